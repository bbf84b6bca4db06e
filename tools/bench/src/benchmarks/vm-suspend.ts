// Issue 20: getting a 1 GiB VM back. banger = `banger vm suspend <vm>` then
// `banger vm resume <vm>` (QEMU saves the whole VM to a file and ends; the
// resume loads it, sets the clock, waits for ssh and the agent). Baseline =
// `banger vm stop <vm>` then `banger vm start <vm>`: the cold boot a VM
// without suspend costs (systemd, sshd, the agent), same VM, same CLI, so the
// difference is the boot alone. Alternately, against one VM (debian-minimal,
// QEMU/TCG on the netns bridge). Runs only inside the netns harness:
//   cd tools/bench && node build.mjs && ../e2e/netns-run.sh node dist/main.mjs 'suspend'
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@banger/host';
import { defineBenchmark } from '../benchmark.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

const VM_NAME = 'bsusp';
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const NETWORK = { bridge: 'banger0', subnet: '172.16.0.0/24' };
const CREATE_TIMEOUT_MS = 10 * 60_000;
const STEP_TIMEOUT_MS = 5 * 60_000;

interface Context {
  dir: string;
  home: BenchBangerHome;
  daemonPid: number;
}

async function cli(ctx: Context, args: string[]): Promise<void> {
  const result = await ctx.home.cli(args, STEP_TIMEOUT_MS);
  if (result.exitCode !== 0) throw new Error(`banger ${args.join(' ')} exited ${result.exitCode}: ${lastLine(result.stderr) || lastLine(result.stdout)}`);
}

export default defineBenchmark<Context>({
  name: 'a 1 GiB VM back: `banger vm suspend` + `vm resume` (QEMU/TCG guest)',
  baseline: '`banger vm stop` + `banger vm start` of the same VM (a cold boot to ssh and the agent)',
  runs: 5,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots a VM: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
    for (const tool of ['qemu-system-x86_64', 'mkfs.ext4', 'debugfs', 'ip', 'gcc']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const artifacts = loadVmArtifacts();
    const dir = await mkdtemp(join(tmpdir(), 'bbsusp-'));
    let home: BenchBangerHome | undefined;
    let daemonPid: number | undefined;
    try {
      const { banger } = await buildCliBundles(dir);
      home = new BenchBangerHome(banger, join(dir, 'home'));
      await home.seed(artifacts, SIZING, NETWORK);
      daemonPid = await home.startDaemon();
      const started = performance.now();
      const created = await home.cli(['vm', 'create', '--name', VM_NAME, '--json'], CREATE_TIMEOUT_MS);
      if (created.exitCode !== 0) throw new Error(`banger vm create exited ${created.exitCode}: ${lastLine(created.stderr) || lastLine(created.stdout)}`);
      logSetup(`VM ${VM_NAME} (debian-minimal, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB) created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return { dir, home, daemonPid };
    } catch (error) {
      if (home && daemonPid !== undefined) await home.shutdown(daemonPid).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  },
  async banger(ctx) {
    await cli(ctx, ['vm', 'suspend', VM_NAME]);
    await cli(ctx, ['vm', 'resume', VM_NAME]);
  },
  async runBaseline(ctx) {
    await cli(ctx, ['vm', 'stop', VM_NAME]);
    await cli(ctx, ['vm', 'start', VM_NAME]);
  },
  async teardown(ctx) {
    try {
      await ctx.home.shutdown(ctx.daemonPid);
    } finally {
      await rm(ctx.dir, { recursive: true, force: true });
    }
  },
});
