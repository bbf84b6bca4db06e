// Issue 11 #3: warm `vm run`. banger = the real CLI and bangerd running
// `banger vm run --rm --json -- true` with the kernel bundle and image
// already in its state dir (a warm cache, a running daemon): create the VM
// (clone the rootfs, host key, work disk, lease + tap, boot QEMU, wait for
// ssh), run `true` over ssh, delete the VM. Baseline = the same
// qemu-system-x86_64 command line (built with banger's own builders from the
// same kernel, initrd and a prepared copy of the same rootfs, on the same
// bridge) started by a bash script that polls `ssh … true` and then kills
// QEMU. The ratio is banger's orchestration overhead over the raw boot.
//
// It boots VMs, so it only runs inside the netns harness:
//   npm run bench:vm -w tools/bench
// Both argvs are printed once (stderr), and after the runs the per-step
// breakdown of banger's median run (the graph's step-succeeded durations).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from '@banger/host';
import { selectHypervisor } from '@banger/hypervisor';
import { removeTap } from '@banger/network';
import { defineBenchmark } from '../benchmark.js';
import { logSetup } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { artifactsIn, loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, lastLine, type TimedCliResult, type VmSizing } from '../fixtures/vm-banger-home.js';
import { captureQemuArgv, compareQemuArgv, shellLine } from '../fixtures/vm-qemu-argv.js';
import { prepareRawVm, RAW_BOOT_SCRIPT, rawUserKey, runRawBoot, setUpRawNetwork, type RawNetwork, type RawVm, type RawVmFactory } from '../fixtures/vm-raw-boot.js';
import { formatVmRunTimeline, parseVmRunTimeline, type VmRunTimeline } from '../fixtures/vm-run-timeline.js';

/** The minimum the rules allow: under TCG one boot takes 15–40 s on this shared 2-core machine. */
const RUNS = 5;
/** A Debian guest under TCG on a loaded host can need minutes to reach sshd (banger's own wait is 300 s). */
const RUN_TIMEOUT_MS = 8 * 60_000;
const BASELINE_SSH_DEADLINE_MS = 5 * 60_000;
/** The notes' recommendation for a Debian guest under TCG (systemd boots markedly faster on 2 vCPUs); 2 GiB as the e2e tests. */
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const NETWORK: RawNetwork = { bridge: 'banger0', subnet: '172.16.0.0/24', tap: 'bbench-raw0', ip: '172.16.0.254' };

interface BangerRun {
  result: TimedCliResult;
  timeline: VmRunTimeline;
}

interface Context {
  dir: string;
  home: BenchBangerHome;
  daemonPid?: number;
  qemuBinary: string;
  factory: RawVmFactory;
  /** Baseline VMs prepared before the clock starts (one per baseline run, warm-up included), used in order. */
  rawVms: RawVm[];
  rawUsed: number;
  scriptPath: string;
  /** Every banger run in order; the first is the warm-up. */
  bangerRuns: BangerRun[];
  /** Every baseline run's wall time in ms, in order; the first is the warm-up. */
  baselineMs: number[];
  argvShown: boolean;
}

export default defineBenchmark<Context>({
  name: 'warm vm run: `banger vm run --rm -- true`',
  baseline: 'the same `qemu-system-x86_64` command line (same kernel, initrd, a prepared copy of the same rootfs and work disk, a tap on the same bridge) started by a bash script that polls `ssh … true` every 0.25 s (ConnectTimeout=2), then kills QEMU',
  runs: RUNS,
  skip() {
    if (!process.env['BANGER_NETNS']) return 'boots VMs: runs only inside the netns harness (npm run bench:vm -w tools/bench)';
    if (!findExecutable('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
    for (const tool of ['ssh', 'mkfs.ext4', 'debugfs', 'resize2fs', 'ip']) if (!findExecutable(tool)) return `${tool} is not installed`;
    return vmArtifactsProblem();
  },
  async setup() {
    const cached = loadVmArtifacts();
    // Short: the daemon's socket lives under BANGER_HOME and must fit in 107 bytes.
    const dir = await mkdtemp(join(tmpdir(), 'bbvm-'));
    let home: BenchBangerHome | undefined;
    let daemonPid: number | undefined;
    try {
      const bundles = await buildCliBundles(dir);
      home = new BenchBangerHome(bundles.banger, join(dir, 'home'));
      await home.seed(cached, SIZING, NETWORK);
      const runtimeDisk = await home.seedRuntimeDisk(bundles.agent);
      // The baseline boots the very files banger boots: the copies in its state dir.
      const artifacts = artifactsIn(home.kernelDir, home.imageDir);
      const choice = await selectHypervisor({ preference: 'qemu' });
      const ctx: Context = {
        dir,
        home,
        qemuBinary: choice.binary,
        factory: { artifacts, sizing: SIZING, network: NETWORK, accel: choice.accel, userKey: await rawUserKey(dir), dir: join(dir, 'raw'), runtimeDisk },
        rawVms: [],
        rawUsed: 0,
        scriptPath: join(dir, 'raw-boot.sh'),
        bangerRuns: [],
        baselineMs: [],
        argvShown: false,
      };
      await writeFile(ctx.scriptPath, RAW_BOOT_SCRIPT, { mode: 0o755 });
      ctx.daemonPid = daemonPid = await home.startDaemon();
      logSetup(`bangerd pid ${ctx.daemonPid}, BANGER_HOME ${home.home}, ${choice.kind} ${choice.version ?? ''} accel ${choice.accel}, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB, ${SIZING.diskBytes / 2 ** 30} GiB disk`);
      await setUpRawNetwork(NETWORK);
      const started = performance.now();
      for (let i = 0; i <= RUNS; i++) ctx.rawVms.push(await prepareRawVm(ctx.factory, i));
      logSetup(`prepared ${RUNS + 1} baseline VM dirs (rootfs clone + host key + work disk each) in ${((performance.now() - started) / 1000).toFixed(1)} s; script ${ctx.scriptPath}`);
      return ctx;
    } catch (error) {
      if (daemonPid !== undefined) await home?.shutdown(daemonPid).catch(() => undefined);
      await removeTap(NETWORK.tap).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  },
  async banger(ctx) {
    const capture = new AbortController();
    const argv = ctx.argvShown ? undefined : captureQemuArgv(ctx.home.home, capture.signal);
    let result: TimedCliResult;
    try {
      result = await ctx.home.cli(['vm', 'run', '--rm', '--json', '--', 'true'], RUN_TIMEOUT_MS);
    } finally {
      capture.abort();
    }
    if (result.exitCode !== 0) throw new Error(`banger vm run --rm -- true exited ${result.exitCode}: ${lastLine(result.stderr) || lastLine(result.stdout)}`);
    ctx.bangerRuns.push({ result, timeline: parseVmRunTimeline(result) });
    const captured = await argv;
    if (argv && !captured) logSetup("warning: could not read banger's QEMU command line from /proc during this run; will try again");
    if (captured && !ctx.argvShown) {
      ctx.argvShown = true;
      const baseline = ctx.rawVms[0]!.argv;
      logSetup(`banger's QEMU (read from /proc while it ran):\n    ${shellLine(captured.binary, captured.argv)}`);
      logSetup(`baseline's QEMU (buildQemuArgs for the same kernel, disks, network and size):\n    ${shellLine(ctx.qemuBinary, baseline)}`);
      const comparison = compareQemuArgv(captured.argv, baseline);
      for (const line of comparison.lines) logSetup(line);
      if (!comparison.sameShape) throw new Error("the baseline's QEMU options differ from banger's: the comparison would be meaningless");
    }
  },
  async runBaseline(ctx) {
    let vm = ctx.rawVms[ctx.rawUsed];
    if (!vm) {
      // Only when a run was repeated; preparing here is inside the timed run, so say so.
      logSetup('warning: no prepared baseline VM left; preparing one inside a timed run');
      vm = await prepareRawVm(ctx.factory, ctx.rawUsed);
      ctx.rawVms.push(vm);
    }
    ctx.rawUsed++;
    const started = performance.now();
    await runRawBoot({ scriptPath: ctx.scriptPath, qemuBinary: ctx.qemuBinary, vm, userKey: ctx.factory.userKey, ip: NETWORK.ip, timeoutMs: BASELINE_SSH_DEADLINE_MS });
    ctx.baselineMs.push(performance.now() - started);
  },
  async teardown(ctx) {
    try {
      reportBreakdown(ctx.bangerRuns.slice(1), ctx.baselineMs.slice(1));
    } finally {
      await ctx.home.shutdown(ctx.daemonPid);
      await removeTap(NETWORK.tap).catch(() => undefined);
      await rm(ctx.dir, { recursive: true, force: true });
    }
  },
});

/**
 * Prints (stderr) where the time of the median measured banger run went,
 * each run's phases, and the like-for-like part: banger's boot + wait-ssh
 * steps against the baseline's whole script (QEMU start → ssh `true` → kill).
 */
function reportBreakdown(runs: BangerRun[], baselineMs: number[]): void {
  if (runs.length === 0) return;
  const sorted = [...runs].sort((a, b) => a.timeline.wallMs - b.timeline.wallMs);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const out = (text: string) => process.stderr.write(`${text}\n`);
  out(`\n${formatVmRunTimeline(median.timeline, `warm vm run: where the time of banger's median run went (run ${runs.indexOf(median) + 1} of ${runs.length})`)}`);
  const duration = (t: VmRunTimeline, id: string) => t.steps.find((x) => x.id === id)?.durationMs ?? 0;
  const cell = (t: VmRunTimeline, id: string) => {
    const s = t.steps.find((x) => x.id === id);
    return s ? (s.action === 'skipped' ? 'skip' : String(Math.round(s.durationMs))) : '-';
  };
  const ids = median.timeline.steps.map((s) => s.id);
  out(`\nall measured banger runs (ms): wall | until planned | graph | ${ids.join(' | ')} | true | delete`);
  for (const { timeline: t } of runs) {
    out(`  ${[t.wallMs, t.untilPlannedMs, t.graphMs].map(Math.round).join(' | ')} | ${ids.map((id) => cell(t, id)).join(' | ')} | ${Math.round(t.commandMs)} | ${Math.round(t.deleteMs)}`);
  }
  const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0;
  const bootToSsh = runs.map(({ timeline: t }) => duration(t, 'vm.boot') + duration(t, 'vm.wait-ssh'));
  out(`baseline runs (ms): ${baselineMs.map(Math.round).join(' | ')}`);
  out(`like for like, medians: banger vm.boot + vm.wait-ssh ${Math.round(middle(bootToSsh))} ms vs baseline script ${Math.round(middle(baselineMs))} ms (QEMU start → ssh true → kill)\n`);
}
