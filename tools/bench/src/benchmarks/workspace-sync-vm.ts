// Issue 11 #7 and issue 17, the VM rows: the same 20 000-file / 200 MB
// repository as workspace-sync.ts, synced into a real banger VM (QEMU/TCG on
// the e2e netns bridge) instead of a loopback sshd — first in full, then
// after 1 % of its files changed — and 1 GiB of a command's stdout out of it.
// banger (sync) = syncWorkspace from @banger/workspace through the VM's guest
// agent (agentGuestExec over an AgentClient on the VM's agent socket): the
// exact call the `workspace.sync` step of the daemon's `vm.run` graph makes
// for `vm run ./repo` when the agent is up (without the task-graph
// bookkeeping). A virtio-serial port takes one host connection at a time, so
// for these rows the bench kills the daemon (the VM keeps running, as after a
// daemon crash) and holds the connection itself; it restarts the daemon to
// delete the VM at the end. Baseline = `rsync -a` over OpenSSH with the same
// key and pinned known_hosts, into the same VM.
// banger (stdout) = `banger vm exec <vm> -- head -c 1GiB /dev/zero` (CLI →
// daemon → agent), baseline = `ssh root@<vm> head -c 1GiB /dev/zero`; both
// outputs are counted by the bench, which must see exactly 1 GiB.
// ONE VM (image vm-run-git: debian-minimal + git + rsync) serves every row;
// each first-sync run writes into a new directory (the 8 GiB sparse work
// disk holds them all, so no removal is timed), the re-sync rows keep one
// copy per side. The agent's and sshd's idle RSS in the guest and the
// runtime disk's size are logged at setup. Runs only inside the netns harness:
//   cd tools/bench && node build.mjs && ../e2e/netns-run.sh node dist/main.mjs 'out of a VM' 'into a VM'
import { spawn } from 'node:child_process';
import { cp, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '@banger/agent';
import { findExecutable, run } from '@banger/host';
import { openSshSession, type SshSession } from '@banger/ssh';
import { agentGuestExec, sshGuestExec, syncWorkspace, type Manifest, type SyncWorkspaceResult } from '@banger/workspace';
import { defineBenchmark } from '../benchmark.js';
import { logSetup, makeWorkDir } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { ensureBenchRepo, repoFiles, touchFiles } from '../fixtures/git-repo.js';
import { findCachedImageDir, loadVmArtifacts, vmArtifactsProblem } from '../fixtures/vm-artifacts.js';
import { BenchBangerHome, lastLine, type VmSizing } from '../fixtures/vm-banger-home.js';

const IMAGE = 'vm-run-git';
const VM_NAME = 'bsync';
const SIZING: VmSizing = { vcpu: 2, memoryMib: 1024, diskBytes: 2 * 2 ** 30 };
const NETWORK = { bridge: 'banger0', subnet: '172.16.0.0/24' };
/** Work disk: sparse, large enough for every first-sync copy of both sides (~230 MB each). */
const WORK_DISK = '8G';
const CREATE_TIMEOUT_MS = 10 * 60_000;

/** The one VM both rows sync into, with what an ssh client needs to reach it. */
interface SharedVm {
  dir: string;
  home: BenchBangerHome;
  daemonPid: number;
  ip: string;
  keyPath: string;
  privateKey: string;
  /** The VM's pinned host public key (`ssh-ed25519 AAAA…`). */
  hostKey: string;
  /** A known_hosts file holding only that key for the VM's address. */
  knownHosts: string;
  /** The repository copy both sides read (re-sync runs rewrite 1 % of it). */
  repo: string;
  work: string;
  /** A session for untimed guest commands (checks, cleanup). */
  control: SshSession;
  /** The bench's own connection to the guest agent, once the daemon was killed to free the port (sync rows). */
  agent?: AgentClient;
}

let shared: Promise<SharedVm> | undefined;
let released = 0;

// measure() runs setup → runs → teardown per row, and both rows use the one
// VM: it goes when every row of this file that the command line selected
// (main.ts's filters, re-read here) has released it.
const selectedRows = (): number => {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  return ROW_NAMES.filter((n) => filters.length === 0 || filters.some((f) => n.includes(f))).length;
};

async function acquireVm(): Promise<SharedVm> {
  shared ??= createVm().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}

async function releaseVm(): Promise<void> {
  if (++released < selectedRows() || !shared) return;
  const vm = await shared.catch(() => undefined);
  shared = undefined;
  if (!vm) return;
  vm.control.close();
  try {
    if (vm.agent) {
      // The daemon was killed for the sync rows: a new one adopts the running VM and deletes it.
      vm.agent.close();
      vm.daemonPid = await vm.home.startDaemon();
    }
    await vm.home.shutdown(vm.daemonPid);
  } finally {
    await rm(vm.dir, { recursive: true, force: true });
    await rm(vm.work, { recursive: true, force: true });
  }
}

async function createVm(): Promise<SharedVm> {
  const artifacts = loadVmArtifacts();
  const imageDir = findCachedImageDir(IMAGE);
  const dir = await mkdtemp(join(tmpdir(), 'bbsync-'));
  const work = await makeWorkDir('sync-vm');
  let home: BenchBangerHome | undefined;
  let daemonPid: number | undefined;
  try {
    const repo = join(work, 'repo');
    await cp(await ensureBenchRepo(), repo, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const { banger } = await buildCliBundles(dir);
    home = new BenchBangerHome(banger, join(dir, 'home'));
    await home.seed(artifacts, SIZING, NETWORK);
    await home.seedImage(imageDir, IMAGE);
    daemonPid = await home.startDaemon();
    const started = performance.now();
    const created = await home.cli(['vm', 'create', '--name', VM_NAME, '--image', IMAGE, '--disk', WORK_DISK, '--json'], CREATE_TIMEOUT_MS);
    if (created.exitCode !== 0) throw new Error(`banger vm create exited ${created.exitCode}: ${lastLine(created.stderr) || lastLine(created.stdout)}`);
    const shown = await home.cli(['vm', 'show', VM_NAME, '--json'], 60_000);
    if (shown.exitCode !== 0) throw new Error(`banger vm show exited ${shown.exitCode}: ${lastLine(shown.stderr)}`);
    const parsed = JSON.parse(shown.stdout) as { ip?: string; vm?: { ip?: string } };
    const ip = parsed.ip ?? parsed.vm?.ip;
    if (!ip) throw new Error(`banger vm show ${VM_NAME} --json has no ip: ${shown.stdout.slice(0, 200)}`);
    // The files the daemon's vm.run result points at (vmSshTarget): banger's key and the VM's pinned host key.
    const keyPath = join(home.home, 'config', 'ssh', 'id_ed25519');
    const hostKey = (await readFile(join(home.stateDir, 'vms', VM_NAME, 'ssh_host_ed25519_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    const knownHosts = join(dir, 'known_hosts');
    await rm(knownHosts, { force: true });
    await open(knownHosts, 'w').then(async (h) => { await h.write(`${ip} ${hostKey}\n`); await h.close(); });
    const privateKey = await readFile(keyPath, 'utf8');
    const control = await openSshSession({ host: ip, privateKey, hostKey });
    const probe = await sshGuestExec(control)('command -v rsync && df -h /root | tail -1 && mkdir -p /root/bench', {});
    if (probe.exitCode !== 0) {
      control.close();
      throw new Error(`the ${IMAGE} guest has no rsync (${probe.stderr.trim() || probe.stdout.trim()}): rebuild the image with rsync in tools/e2e/src/fixtures/vm-run-git.toml`);
    }
    logSetup(`VM ${VM_NAME} (${IMAGE}, ${SIZING.vcpu} vCPU, ${SIZING.memoryMib} MiB, work disk ${WORK_DISK}) up at ${ip} in ${((performance.now() - started) / 1000).toFixed(1)} s; guest /root: ${probe.stdout.trim().split('\n').at(-1)}`);
    await logFootprint(home, control);
    return { dir, home, daemonPid, ip, keyPath, privateKey, hostKey, knownHosts, repo, work, control };
  } catch (error) {
    if (home && daemonPid !== undefined) await home.shutdown(daemonPid).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

async function guest(vm: SharedVm, command: string): Promise<string> {
  const result = await sshGuestExec(vm.control)(command, {});
  if (result.exitCode !== 0) throw new Error(`guest command failed (${command.slice(0, 60)}): ${result.stderr.trim().split('\n').at(-1)}`);
  return result.stdout;
}

/** banger's side: what the workspace.sync step of vm.run does when the agent is up — syncWorkspace through it. */
async function bangerSync(vm: SharedVm, guestDir: string, previous?: Manifest): Promise<SyncWorkspaceResult> {
  const client = await agentOf(vm);
  return syncWorkspace({ exec: agentGuestExec(client), repoDir: vm.repo, guestDir, ...(previous ? { previous } : {}) });
}

/**
 * The bench's connection to the guest agent. The daemon holds the VM's one
 * virtio-serial connection, so it is killed first (the VM keeps running, as
 * after a daemon crash; releaseVm starts a new daemon), then the agent is
 * greeted on the VM's agent socket, retrying while it notices the hang-up.
 */
async function agentOf(vm: SharedVm): Promise<AgentClient> {
  if (vm.agent && !vm.agent.closed) return vm.agent;
  if (!vm.agent) {
    process.kill(vm.daemonPid, 'SIGKILL');
    while (processExists(vm.daemonPid)) await sleep(50);
  }
  const socket = join(vm.home.stateDir, 'vms', VM_NAME, 'agent.sock');
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const io = createConnection(socket);
      await new Promise((ok, fail) => io.once('connect', ok).once('error', fail));
      vm.agent = await AgentClient.connect(io, { hostVersion: 'bench', timeoutMs: 5_000 });
      return vm.agent;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`the guest agent of ${VM_NAME} did not answer on ${socket}: ${(error as Error).message}`);
      await sleep(500);
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The agent's and sshd's idle RSS in the guest, and the runtime disk's size (logged, not timed). */
async function logFootprint(home: BenchBangerHome, control: SshSession): Promise<void> {
  const ps = await sshGuestExec(control)("ps -eo rss=,args= | grep -E 'banger-vsock-agent|sshd' | grep -v grep", {});
  for (const line of ps.stdout.trim().split('\n')) {
    const [rss, ...args] = line.trim().split(/\s+/);
    logSetup(`guest RSS ${(Number(rss) / 1024).toFixed(1)} MiB: ${args.join(' ').slice(0, 110)}`);
  }
  const dir = join(home.stateDir, 'runtime');
  for (const name of (await readdir(dir).catch(() => [])).filter((n) => n.endsWith('.ext4'))) {
    const s = await stat(join(dir, name));
    logSetup(`runtime disk ${name}: ${(s.size / 2 ** 20).toFixed(1)} MiB apparent, ${((s.blocks * 512) / 2 ** 20).toFixed(1)} MiB allocated`);
  }
}

/** Runs a command, counting its stdout bytes (which go nowhere else). */
function countStdout(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`${command} exited ${code}: ${lastLine(stderr)}`))));
  });
}

/**
 * How much stdout the stdout row moves: 1 GiB by default (the row);
 * BANGER_BENCH_STDOUT_MIB makes it smaller where the link is too slow for
 * twelve 1 GiB transfers (≈ 1.6 MiB/s under a loaded TCG: 11 min each).
 */
const STDOUT_BYTES = Number(process.env['BANGER_BENCH_STDOUT_MIB'] ?? 1024) * 2 ** 20;
const STDOUT_SIZE = STDOUT_BYTES === 2 ** 30 ? '1GiB' : `${STDOUT_BYTES / 2 ** 20}MiB`;
const expectAll = (bytes: number, who: string): void => {
  if (bytes !== STDOUT_BYTES) throw new Error(`${who} delivered ${bytes} bytes of stdout, expected ${STDOUT_BYTES}`);
};

async function rsyncTo(vm: SharedVm, guestDir: string): Promise<void> {
  const ssh = `ssh -i ${vm.keyPath} -o UserKnownHostsFile=${vm.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`;
  await run('rsync', ['-a', '-e', ssh, `${vm.repo}/`, `root@${vm.ip}:${guestDir}/`]);
}

/**
 * Same check as the loopback rows, done with hashes since the copy is in the
 * guest: the sorted list of regular files with their sha256 and of symlinks
 * with their targets must match the repository's (empty directories, which
 * banger does not copy and git does not need, are the one allowed difference).
 */
const TREE_DIGEST = `find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum; find . -type l -printf '%p %l\\n' | LC_ALL=C sort | sha256sum`;
async function expectSameTree(vm: SharedVm, guestDir: string): Promise<void> {
  const host = (await run('bash', ['-c', `cd '${vm.repo}' && { ${TREE_DIGEST}; }`])).stdout;
  const copy = await guest(vm, `cd '${guestDir}' && { ${TREE_DIGEST}; }`);
  if (host !== copy) throw new Error(`${guestDir} in VM ${VM_NAME} differs from the repository ${vm.repo}`);
}

interface Context {
  vm: SharedVm;
  bangerRuns: number;
  rsyncRuns: number;
  touched: string[];
  generation: number;
  manifest?: Manifest;
}

const BANGER_DEST = '/root/bench/banger';
const RSYNC_DEST = '/root/bench/rsync';

async function setupRow(): Promise<Context> {
  const vm = await acquireVm();
  const touched = repoFiles()
    .filter((_, i) => i % 100 === 0)
    .map((f) => join(vm.repo, f.path));
  return { vm, bangerRuns: 0, rsyncRuns: 0, touched, generation: 0 };
}

/** Touches the same 1 % of the files again, one generation later. */
const touchOnePercent = (ctx: Context): Promise<void> => touchFiles(ctx.touched, 1_000 + ++ctx.generation);

const NAME = 'workspace sync into a VM through the guest agent (20 000 files / 200 MB, QEMU/TCG guest)';
const RSYNC = "`rsync -a -e 'ssh -i <banger key> -o UserKnownHostsFile=<pinned> -o StrictHostKeyChecking=yes' repo/ root@<vm ip>:dest/` to the same VM";
const STDOUT_NAME = `stdout of ${STDOUT_BYTES / 2 ** 20} MiB out of a VM: \`banger vm exec <vm> -- head -c ${STDOUT_SIZE} /dev/zero\` (QEMU/TCG guest)`;
// The stdout row goes first: the sync rows kill the daemon to hold the agent's connection themselves.
const ROW_NAMES = [STDOUT_NAME, `${NAME}, first sync`, `${NAME}, re-sync after touching 1 %`];

const skip = (): string | undefined => {
  if (!process.env['BANGER_NETNS']) return 'boots a VM: runs only inside the netns harness (../e2e/netns-run.sh node dist/main.mjs …)';
  for (const tool of ['qemu-system-x86_64', 'rsync', 'ssh', 'mkfs.ext4', 'debugfs', 'ip']) if (!findExecutable(tool)) return `${tool} is not installed`;
  const problem = vmArtifactsProblem();
  if (problem) return problem;
  try {
    findCachedImageDir(IMAGE);
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
};

export default [
  defineBenchmark<Context>({
    name: STDOUT_NAME,
    baseline: `\`ssh -i <banger key> -o UserKnownHostsFile=<pinned> root@<vm ip> head -c ${STDOUT_SIZE} /dev/zero\` (OpenSSH) from the same VM`,
    runs: 5,
    skip,
    setup: setupRow,
    async teardown() {
      await releaseVm();
    },
    async banger(ctx) {
      if (ctx.vm.agent) throw new Error('the stdout row must run before the sync rows (they kill the daemon)');
      const bytes = await countStdout(process.execPath, [ctx.vm.home.bangerJs, 'vm', 'exec', VM_NAME, '--', 'head', '-c', String(STDOUT_BYTES), '/dev/zero'], ctx.vm.home.env());
      expectAll(bytes, 'banger vm exec');
    },
    async runBaseline(ctx) {
      const ssh = ['-i', ctx.vm.keyPath, '-F', '/dev/null', '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${ctx.vm.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${ctx.vm.ip}`, `head -c ${STDOUT_BYTES} /dev/zero`];
      expectAll(await countStdout('ssh', ssh), 'ssh');
    },
  }),
  defineBenchmark<Context>({
    name: ROW_NAMES[1]!,
    baseline: `${RSYNC}, into an empty directory`,
    runs: 5,
    skip,
    setup: setupRow,
    async teardown(ctx) {
      try {
        await expectSameTree(ctx.vm, `${BANGER_DEST}-${ctx.bangerRuns - 1}`);
        await expectSameTree(ctx.vm, `${RSYNC_DEST}-${ctx.rsyncRuns - 1}`);
        await guest(ctx.vm, 'rm -rf /root/bench/*');
      } finally {
        await releaseVm();
      }
    },
    // Each run copies into a new directory of the guest's work disk: removing 20 000 files would blur the timing.
    async banger(ctx) {
      const result = await bangerSync(ctx.vm, `${BANGER_DEST}-${ctx.bangerRuns++}`);
      if (result.transferred.files < repoFiles().length) throw new Error(`first sync sent ${result.transferred.files} files, expected at least ${repoFiles().length}`);
    },
    async runBaseline(ctx) {
      await rsyncTo(ctx.vm, `${RSYNC_DEST}-${ctx.rsyncRuns++}`);
    },
  }),
  defineBenchmark<Context>({
    name: ROW_NAMES[2]!,
    baseline: `${RSYNC}, onto the previous copy`,
    runs: 5,
    skip,
    async setup() {
      const ctx = await setupRow();
      try {
        ctx.manifest = (await bangerSync(ctx.vm, BANGER_DEST)).manifest;
        await rsyncTo(ctx.vm, RSYNC_DEST);
        return ctx;
      } catch (error) {
        await releaseVm();
        throw error;
      }
    },
    async teardown(ctx) {
      try {
        // The last round's other side touched files after this side synced: one more sync each, then both must match.
        ctx.manifest = (await bangerSync(ctx.vm, BANGER_DEST, ctx.manifest)).manifest;
        await rsyncTo(ctx.vm, RSYNC_DEST);
        await expectSameTree(ctx.vm, BANGER_DEST);
        await expectSameTree(ctx.vm, RSYNC_DEST);
      } finally {
        await releaseVm();
      }
    },
    async banger(ctx) {
      await touchOnePercent(ctx);
      const result = await bangerSync(ctx.vm, BANGER_DEST, ctx.manifest);
      if (result.transferred.files !== ctx.touched.length) throw new Error(`re-sync sent ${result.transferred.files} files, expected ${ctx.touched.length}`);
      ctx.manifest = result.manifest;
    },
    async runBaseline(ctx) {
      await touchOnePercent(ctx);
      await rsyncTo(ctx.vm, RSYNC_DEST);
    },
  }),
];
