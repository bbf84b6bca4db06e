// Issue 19: the floor. Three ways to a ready debian-minimal guest, side by
// side in one run (a warm-up round, then rounds rotating which goes first),
// each row's median against the floor's:
//
// 1. floor: banger's QEMU argv (the same kernel, initrd, disks — a fresh copy
//    of the image's rootfs, a work disk, the modules and the agent's runtime
//    disk — tap and size), with `init=` a shell script written into the
//    rootfs copy that mounts the runtime disk and execs the agent as
//    banger-agent.service does (fixtures/floor-init.ts): no systemd at all.
//    Time = QEMU spawn → the agent's hello answered on the host socket.
// 2. raw QEMU: the same argv with the image's own init (systemd, banger's
//    agent unit written in as vm.agent-unit does); the same readiness probe,
//    then `true` run through the agent on that connection as banger's row
//    runs it (`sh -c true` as root): the guest-side work of banger's row, so
//    the two differ by orchestration only (issue 19's "≤ 1.05× raw"). The
//    hello alone is reported beside it for every run.
// 3. banger: `banger vm run --rm -- true` through the real CLI and a warm
//    daemon (as the warm-vm-run row runs it); its wall time, CLI start to
//    exit, which includes `true` and the delete.
//
// Boots VMs, so it runs only inside the netns harness:
//   npm run bench:vm -w tools/bench -- 'boot to ready'
// BANGER_BENCH_FLOOR_RUNS sets the measured rounds (default 3: a round is
// three boots of 20–120 s each under TCG here).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, run as runHost } from '@banger/host';
import { selectHypervisor } from '@banger/hypervisor';
import { removeTap } from '@banger/network';
import { defineRowsBenchmark } from '../benchmark.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { FLOOR_INIT_PATH, floorInitScript } from '../fixtures/floor-init.js';
import { bootToAgentHello, type AgentBoot } from '../fixtures/vm-agent-boot.js';
import { artifactsIn, loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, IMAGE_NAME, lastLine, type TimedCliResult, type VmSizing } from '../fixtures/vm-banger-home.js';
import { captureQemuArgv, compareQemuArgv, shellLine } from '../fixtures/vm-qemu-argv.js';
import { prepareRawVm, rawUserKey, setUpRawNetwork, type RawNetwork, type RawVm, type RawVmFactory } from '../fixtures/vm-raw-boot.js';
import { formatVmRunTimeline, parseVmRunTimeline, type VmRunTimeline } from '../fixtures/vm-run-timeline.js';

const RUNS = Math.max(1, Number(process.env['BANGER_BENCH_FLOOR_RUNS'] ?? '') || 3);
/** A Debian guest under TCG on a loaded host can need minutes (banger's own waits are 300 s for ssh, 60 s more for the agent). */
const READY_TIMEOUT_MS = 8 * 60_000;
const RUN_TIMEOUT_MS = 10 * 60_000;
/** As the warm-vm-run row: 2 vCPU (systemd boots markedly faster under TCG), 1 GiB, 2 GiB disks. */
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const NETWORK: RawNetwork = { bridge: 'banger0', subnet: '172.16.0.0/24', tap: 'bbench-flr0', ip: '172.16.0.254' };

const FLOOR = 'floor (init= the agent only)';
const RAW = 'raw QEMU, image init, to agent hello + `true`';
const BANGER = '`banger vm run --rm -- true`';

interface Context {
  dir: string;
  home: BenchBangerHome;
  daemonPid?: number;
  qemuBinary: string;
  /** Prepared before the clock starts, one per run (warm-up included), used in order. */
  floorVms: RawVm[];
  rawVms: RawVm[];
  floorBoots: AgentBoot[];
  rawBoots: AgentBoot[];
  bangerRuns: VmRunTimeline[];
  argvChecked: boolean;
}

export default defineRowsBenchmark<Context>({
  name: `boot to ready (${IMAGE_NAME}, QEMU)`,
  runs: RUNS,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots VMs: runs only inside the netns harness (npm run bench:vm -w tools/bench)';
    if (!findExecutable('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
    for (const tool of ['mkfs.ext4', 'debugfs', 'resize2fs', 'ip', 'ldd']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const cached = loadVmArtifacts();
    // Short: the daemon's socket lives under BANGER_HOME and must fit in 107 bytes.
    const dir = await mkdtemp(join(tmpdir(), 'bbflr-'));
    let home: BenchBangerHome | undefined;
    let daemonPid: number | undefined;
    try {
      const bundles = await buildCliBundles(dir);
      home = new BenchBangerHome(bundles.banger, join(dir, 'home'));
      await home.seed(cached, SIZING, NETWORK);
      const runtimeDisk = await home.seedRuntimeDisk(bundles.agent);
      const choice = await selectHypervisor({ preference: 'qemu' });
      const factory: RawVmFactory = {
        // The baselines boot the very files banger boots: the copies in its state dir.
        artifacts: artifactsIn(home.kernelDir, home.imageDir),
        sizing: SIZING,
        network: NETWORK,
        accel: choice.accel,
        userKey: await rawUserKey(dir),
        dir: join(dir, 'raw'),
        runtimeDisk,
      };
      daemonPid = await home.startDaemon();
      logSetup(`bangerd pid ${daemonPid}, BANGER_HOME ${home.home}, ${choice.kind} ${choice.version ?? ''} accel ${choice.accel}, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB, image ${IMAGE_NAME}, runtime disk ${runtimeDisk}`);
      await setUpRawNetwork(NETWORK);
      const started = performance.now();
      const floorVms: RawVm[] = [];
      const rawVms: RawVm[] = [];
      for (let i = 0; i <= RUNS; i++) {
        floorVms.push(await prepareRawVm(factory, i, { name: `floor${i}`, files: [{ path: FLOOR_INIT_PATH, content: floorInitScript(), mode: 0o755 }], extraBootArgs: `init=${FLOOR_INIT_PATH}` }));
        rawVms.push(await prepareRawVm(factory, i, { name: `raw${i}`, agentUnit: true }));
      }
      logSetup(`prepared ${2 * (RUNS + 1)} baseline VM dirs (rootfs clone + host key + work disk, the floor's init or the agent unit) in ${((performance.now() - started) / 1000).toFixed(1)} s; ${RUNS} measured rounds after a warm-up (BANGER_BENCH_FLOOR_RUNS)`);
      return { dir, home, daemonPid, qemuBinary: choice.binary, floorVms, rawVms, floorBoots: [], rawBoots: [], bangerRuns: [], argvChecked: false };
    } catch (error) {
      if (daemonPid !== undefined) await home?.shutdown(daemonPid).catch(() => undefined);
      await removeTap(NETWORK.tap).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  },
  rows: [
    {
      label: FLOOR,
      describe: `banger's QEMU argv (same kernel, initrd, disks incl. the agent's runtime disk, tap, 2 vCPU / 1 GiB) booting a fresh copy of the ${IMAGE_NAME} rootfs with init=${FLOOR_INIT_PATH} (mount the runtime disk read-only, exec the agent as banger-agent.service does; no systemd, no udev); QEMU spawn → the agent's hello answered on the host socket (AgentClient)`,
      async run(ctx) {
        await quiesce();
        const boot = await bootToAgentHello({ qemuBinary: ctx.qemuBinary, vm: next(ctx.floorVms, ctx.floorBoots.length, 'floor'), timeoutMs: READY_TIMEOUT_MS });
        ctx.floorBoots.push(boot);
        return boot.readyMs;
      },
    },
    {
      label: RAW,
      describe: `the same argv booting a fresh copy of the ${IMAGE_NAME} rootfs with its own init (systemd; banger's agent unit written in as vm.agent-unit does), the same probe, then \`sh -c true\` through the agent as banger's row runs it: QEMU spawn → the hello answered → \`true\` exited`,
      async run(ctx) {
        await quiesce();
        const boot = await bootToAgentHello({ qemuBinary: ctx.qemuBinary, vm: next(ctx.rawVms, ctx.rawBoots.length, 'raw'), timeoutMs: READY_TIMEOUT_MS, command: ['true'] });
        ctx.rawBoots.push(boot);
        return boot.readyMs;
      },
    },
    {
      label: BANGER,
      describe: `the real CLI and a warm daemon (kernel and ${IMAGE_NAME} image in its state dir, the runtime disk built): create (clone, work disk, tap, boot, wait for ssh and the agent), \`true\` through the agent, delete; CLI start → exit`,
      async run(ctx) {
        await quiesce();
        const capture = new AbortController();
        const argv = ctx.argvChecked ? undefined : captureQemuArgv(ctx.home.home, capture.signal);
        let result: TimedCliResult;
        try {
          result = await ctx.home.cli(['vm', 'run', '--rm', '--json', '--', 'true'], RUN_TIMEOUT_MS);
        } finally {
          capture.abort();
        }
        if (result.exitCode !== 0) throw new Error(`banger vm run --rm -- true exited ${result.exitCode}: ${lastLine(result.stderr) || lastLine(result.stdout)}`);
        ctx.bangerRuns.push(parseVmRunTimeline(result));
        // Untimed: what the daemon does after banger exited (the removal, the next spare disk) is not left to slow the next row's boot.
        await ctx.home.settled();
        const captured = await argv;
        if (captured && !ctx.argvChecked) {
          ctx.argvChecked = true;
          logSetup(`banger's QEMU (read from /proc while it ran):\n    ${shellLine(captured.binary, captured.argv)}`);
          for (const [what, vm] of [['floor', ctx.floorVms[0]!], ['raw', ctx.rawVms[0]!]] as const) {
            logSetup(`${what}'s QEMU:\n    ${shellLine(ctx.qemuBinary, vm.argv)}`);
            const comparison = compareQemuArgv(captured.argv, vm.argv);
            for (const line of comparison.lines) logSetup(line);
            if (!comparison.sameShape) throw new Error(`the ${what} row's QEMU options differ from banger's: its ratio would be meaningless`);
          }
        } else if (!ctx.argvChecked) {
          logSetup("warning: could not read banger's QEMU command line from /proc during this run; will try again");
        }
        // CLI start → exit: not the wait for the daemon to settle above.
        return result.endedAt - result.startedAt;
      },
    },
  ],
  async teardown(ctx, measured) {
    try {
      if (measured) report(ctx, measured);
    } finally {
      if (ctx.daemonPid !== undefined) await ctx.home.shutdown(ctx.daemonPid);
      await removeTap(NETWORK.tap).catch(() => undefined);
      await rm(ctx.dir, { recursive: true, force: true });
    }
  },
});

/** The next prepared VM of a row (a fresh rootfs each boot); prepared late only when a run was repeated, and said so. */
function next(vms: RawVm[], used: number, what: string): RawVm {
  const vm = vms[used];
  if (!vm) throw new Error(`no prepared ${what} VM left for boot ${used + 1}`);
  return vm;
}

/** Every measured time (stderr), the probe's attempts, and where banger's median run went. */
function report(ctx: Context, measured: ReadonlyMap<string, readonly number[]>): void {
  const out = (text: string) => process.stderr.write(`${text}\n`);
  const s = (ms: number) => (ms / 1000).toFixed(1);
  out('\nboot to ready, every measured run (s, in run order):');
  for (const [label, times] of measured) out(`  ${label}: ${times.map(s).join(' | ')}`);
  const attempts = (boots: AgentBoot[]) => boots.slice(1).map((b) => b.attempts).join(', ');
  out(`  raw QEMU to the hello alone (s): ${ctx.rawBoots.slice(1).map((b) => s(b.helloMs)).join(' | ')}`);
  out(`  hello attempts per boot (one connection waits for the hello; more only after a refused connect or an announced restart): floor ${attempts(ctx.floorBoots)}; raw ${attempts(ctx.rawBoots)}; agent ${ctx.floorBoots[0]?.agentVersion ?? '?'}`);
  const runs = ctx.bangerRuns.slice(1);
  if (runs.length === 0) return;
  const median = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((runs.length - 1) / 2)]!;
  const step = (t: VmRunTimeline, id: string) => t.steps.find((x) => x.id === id)?.durationMs ?? 0;
  out(`  banger, like for like (vm.boot + vm.wait-ssh + vm.wait-agent), per run: ${runs.map((t) => s(step(t, 'vm.boot') + step(t, 'vm.wait-ssh') + step(t, 'vm.wait-agent'))).join(' | ')}`);
  const ms = (value: number) => `${Math.round(value)}`;
  const bootStart = (t: VmRunTimeline) => t.steps.find((x) => x.id === 'vm.boot')?.startMs ?? 0;
  out(`  banger's own time per run, ms (CLI → planned | planned → QEMU spawned | graph end → \`true\` exited): ${runs.map((t) => `${ms(t.untilPlannedMs)} ${ms(bootStart(t) - t.untilPlannedMs)} ${ms(t.commandMs)}`).join(' | ')}`);
  out(`\n${formatVmRunTimeline(median, `boot to ready: where banger's median run went (run ${runs.indexOf(median) + 1} of ${runs.length})`)}\n`);
}

/** Untimed, before every boot: no writeback of an earlier row's disks (or a spare banger made) is left to share the host with it. */
async function quiesce(): Promise<void> {
  await runHost('sync', []);
}
