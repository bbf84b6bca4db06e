// Issue 20, slice 2: warm start. banger = `banger vm run --rm -- true` with
// warm_start = true and the template of its inputs already built (the first
// run, in setup): the VM's disks are copies of the template's, QEMU loads the
// template's saved state, the agent gives the guest its identity, ssh and the
// agent are waited for, `true` runs, the VM is deleted. Baseline = the same
// command with `--cold` in the same home: clone, boot systemd to ssh and the
// agent, `true`, delete. Same image, kernel and size, alternately. Runs only
// inside the netns harness:
//   cd tools/bench && node build.mjs && ../e2e/netns-run.sh node dist/main.mjs 'warm start'
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@banger/host';
import { defineBenchmark } from '../benchmark.js';
import { BENCH_NETWORK } from '../fixtures/bench-vm.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

/** The size the e2e tests use; a template is per size. */
const SIZING: VmSizing = { vcpu: 1, memoryMib: 512, diskBytes: 2 ** 30 };
const RUN_TIMEOUT_MS = 10 * 60_000;

interface Context {
  dir: string;
  home: BenchBangerHome;
  daemonPid: number;
}

async function runTrue(ctx: Context, extra: string[]): Promise<void> {
  const result = await ctx.home.cli(['vm', 'run', '--rm', ...extra, '--', 'true'], RUN_TIMEOUT_MS);
  if (result.exitCode !== 0) throw new Error(`banger vm run --rm ${extra.join(' ')} -- true exited ${result.exitCode}: ${lastLine(result.stderr) || lastLine(result.stdout)}`);
}

export default defineBenchmark<Context>({
  name: 'warm start: `banger vm run --rm -- true` from a warm template (QEMU/TCG guest)',
  baseline: '`banger vm run --rm --cold -- true`: the same image, kernel and size booted cold (systemd to ssh and the agent)',
  runs: 5,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots VMs: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
    for (const tool of ['qemu-system-x86_64', 'mkfs.ext4', 'debugfs', 'ip', 'ssh']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const dir = await mkdtemp(join(tmpdir(), 'bbwarm-'));
    let home: BenchBangerHome | undefined;
    let daemonPid: number | undefined;
    try {
      const { banger } = await buildCliBundles(dir);
      home = new BenchBangerHome(banger, join(dir, 'home'));
      await home.seed(loadVmArtifacts(), SIZING, BENCH_NETWORK, ['warm_start = true']);
      daemonPid = await home.startDaemon();
      const ctx: Context = { dir, home, daemonPid };
      const started = performance.now();
      await runTrue(ctx, []);
      logSetup(`first warm vm run (builds the template: a boot, a save) took ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return ctx;
    } catch (error) {
      if (home && daemonPid !== undefined) await home.shutdown(daemonPid).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  },
  async banger(ctx) {
    await runTrue(ctx, []);
  },
  async runBaseline(ctx) {
    await runTrue(ctx, ['--cold']);
  },
  async teardown(ctx) {
    try {
      await ctx.home.shutdown(ctx.daemonPid);
    } finally {
      await rm(ctx.dir, { recursive: true, force: true });
    }
  },
});
