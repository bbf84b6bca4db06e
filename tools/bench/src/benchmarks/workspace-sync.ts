// Issue 11 #7: copying a 20 000-file / 200 MB git repository into a guest,
// first in full, then again after 1 % of its files changed.
// banger = syncWorkspace over one ssh2 session (git ls-files + lstat of every
// file into a manifest, diff with the previous manifest, one tar stream into
// `tar -x` in the guest) vs `rsync -a` over OpenSSH to the same target.
// The "guest" is a real OpenSSH sshd on 127.0.0.1, not a VM: booting one
// here is slow (TCG) and the VM stack is still being integrated. Both sides
// pay for their ssh connection in every run (banger opens a session, rsync
// spawns ssh), and both write into directories of the same file system.
// The "through the agent" rows: the same syncWorkspace through a real
// banger-vsock-agent process on a Unix socket (agentGuestExec: `tar -x` run
// by the agent, the tar on one agent stream) — the path `vm run ./repo` takes
// when the guest agent is up — against the same rsync.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '@banger/agent';
import { run } from '@banger/host';
import { agentGuestExec, buildManifest, listWorkspaceFiles, sshGuestExec, syncWorkspace, type Manifest, type SyncWorkspaceResult } from '@banger/workspace';
import { openSshSession } from '@banger/ssh';
import { sshdUnavailable, startSshd, type TestSshd } from '@banger/ssh/testing';
import { defineBenchmark } from '../benchmark.js';
import { logSetup, makeWorkDir } from '../fixtures/cache-dir.js';
import { buildCliBundles } from '../fixtures/cli-bundles.js';
import { ensureBenchRepo, repoFiles, touchFiles } from '../fixtures/git-repo.js';

interface Context {
  work: string;
  repo: string;
  sshd: TestSshd;
  /** First-sync rows: how many copies each side made (each goes to its own new directory). */
  bangerRuns: number;
  rsyncRuns: number;
  /** The 1 % of work-tree files a re-sync run rewrites (every 100th). */
  touched: string[];
  generation: number;
  /** Re-sync rows: the guest copies both sides keep updating, and banger's manifest of its copy. */
  bangerDest: string;
  rsyncDest: string;
  manifest?: Manifest;
  /** The "through the agent" rows: a real agent process on a Unix socket, and the host's connection to it. */
  agent?: { child: ChildProcess; client: AgentClient };
}

async function baseSetup(): Promise<Context> {
  const cached = await ensureBenchRepo();
  const work = await makeWorkDir('sync');
  try {
    // A private copy: re-sync runs rewrite files, and the cached repo must stay as it was made.
    const repo = join(work, 'repo');
    await cp(cached, repo, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    const sshd = await startSshd(await mkdtemp(join(work, 'sshd-')), { hostKeyComment: 'bench' });
    const touched = repoFiles()
      .filter((_, i) => i % 100 === 0)
      .map((f) => join(repo, f.path));
    logSetup(`repository: ${repoFiles().length} work-tree files + a packed .git, guest: sshd on 127.0.0.1:${sshd.port}`);
    return { work, repo, sshd, bangerRuns: 0, rsyncRuns: 0, touched, generation: 0, bangerDest: join(work, 'guest', 'banger'), rsyncDest: join(work, 'guest', 'rsync') };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

async function teardown(ctx: Context): Promise<void> {
  if (ctx.agent) {
    ctx.agent.client.close();
    ctx.agent.child.kill('SIGTERM');
  }
  await ctx.sshd.stop();
  await rm(ctx.work, { recursive: true, force: true });
}

async function bangerSync(ctx: Context, guestDir: string, previous?: Manifest): Promise<SyncWorkspaceResult> {
  const session = await openSshSession({ host: '127.0.0.1', port: ctx.sshd.port, privateKey: ctx.sshd.userKey.privateKey, hostKey: ctx.sshd.hostKey.publicKey });
  try {
    const result = await syncWorkspace({ exec: sshGuestExec(session), repoDir: ctx.repo, guestDir, ...(previous ? { previous } : {}) });
    return result;
  } finally {
    session.close();
  }
}

/** Starts the agent bundle (built as `make install` does) on a Unix socket in the work dir and connects to it. */
async function startAgent(ctx: Context): Promise<void> {
  const { agent } = await buildCliBundles(await mkdtemp(join(ctx.work, 'bundles-')));
  const socket = join(ctx.work, 'agent.sock');
  const child = spawn(process.execPath, [agent, '--listen-unix', socket, '--quiet'], { stdio: 'ignore' });
  for (let i = 0; !existsSync(socket); i++) {
    if (child.exitCode !== null || i > 400) throw new Error('the agent did not come up');
    await sleep(25);
  }
  const io = createConnection(socket);
  await new Promise((ok, fail) => io.once('connect', ok).once('error', fail));
  ctx.agent = { child, client: await AgentClient.connect(io, { hostVersion: 'bench' }) };
  logSetup(`agent: pid ${child.pid} on ${socket}`);
}

/** banger through the agent: the host's one connection to it stays open between runs, as the daemon's does. */
async function agentSync(ctx: Context, guestDir: string, previous?: Manifest): Promise<SyncWorkspaceResult> {
  return syncWorkspace({ exec: agentGuestExec(ctx.agent!.client), repoDir: ctx.repo, guestDir, ...(previous ? { previous } : {}) });
}

async function rsyncTo(ctx: Context, guestDir: string): Promise<void> {
  await run('rsync', ['-a', '-e', ctx.sshd.sshCommand, `${ctx.repo}/`, `root@127.0.0.1:${guestDir}/`]);
}

/** Touches the same 1 % of the files again, one generation later. */
const touchOnePercent = (ctx: Context): Promise<void> => touchFiles(ctx.touched, ++ctx.generation);

/**
 * Where banger's time goes: the host-side listing (git ls-files + lstat) and
 * manifest (stat, plus sha256 of changed files on a re-sync) timed once more
 * on their own, after the runs (same warm page cache); the rest of a run is
 * the ssh session and the tar stream into the guest.
 */
async function logBreakdown(ctx: Context, previous?: Manifest): Promise<void> {
  if (previous) await touchOnePercent(ctx);
  const start = performance.now();
  const files = await listWorkspaceFiles(ctx.repo);
  const listed = performance.now();
  await buildManifest(ctx.repo, files, previous);
  const built = performance.now();
  logSetup(`banger host-side work: listing ${files.length} files ${Math.round(listed - start)} ms, manifest ${Math.round(built - listed)} ms (the rest of a run is ssh + tar into the guest)`);
}

/**
 * The guest copy must be the repository, byte for byte (checked at the end,
 * untimed). Empty directories (.git/refs/tags…) are the one allowed
 * difference: banger copies files, and git does not need them.
 */
async function expectSameTree(ctx: Context, guestDir: string): Promise<void> {
  const diff = await run('diff', ['-rq', '--no-dereference', ctx.repo, guestDir], { allowFailure: true });
  const problems: string[] = [];
  for (const line of diff.stdout.split('\n').filter(Boolean)) {
    const only = /^Only in (.+): (.+)$/.exec(line);
    if (only && only[1]!.startsWith(ctx.repo) && (await isEmptyTree(join(only[1]!, only[2]!)))) continue;
    problems.push(line);
  }
  if (diff.exitCode > 1 || problems.length > 0) {
    throw new Error(`${guestDir} differs from the repository: ${problems.slice(0, 3).join('; ') || diff.stderr.trim()}`);
  }
}

async function isEmptyTree(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (!entries) return false;
  for (const entry of entries) if (!entry.isDirectory() || !(await isEmptyTree(join(dir, entry.name)))) return false;
  return true;
}

const NAME = 'workspace sync (20 000 files / 200 MB, guest: loopback sshd)';
const AGENT_NAME = 'workspace sync through the agent (20 000 files / 200 MB, guest: agent on a Unix socket)';
const RSYNC = '`rsync -a -e ssh repo/ root@127.0.0.1:dest/` to the same sshd';

/** One way banger syncs: its row name, what it starts first, the sync itself, and whether to log the host-side breakdown. */
interface SyncWay {
  name: string;
  start?: (ctx: Context) => Promise<void>;
  sync: (ctx: Context, guestDir: string, previous?: Manifest) => Promise<SyncWorkspaceResult>;
  breakdown: boolean;
}

const SSH2: SyncWay = { name: NAME, sync: bangerSync, breakdown: true };
const AGENT: SyncWay = { name: AGENT_NAME, start: startAgent, sync: agentSync, breakdown: false };

/** baseSetup, then `then` (the way's start, the first copies), the context torn down if either fails. */
async function setUpFor(way: SyncWay, then: (ctx: Context) => Promise<void> = async () => undefined): Promise<Context> {
  const ctx = await baseSetup();
  try {
    await way.start?.(ctx);
    await then(ctx);
    return ctx;
  } catch (error) {
    await teardown(ctx);
    throw error;
  }
}

const firstSync = (way: SyncWay) =>
  defineBenchmark<Context>({
    name: `${way.name}, first sync`,
    baseline: `${RSYNC}, into an empty directory`,
    runs: 5,
    skip: sshdUnavailable,
    setup: () => setUpFor(way),
    async teardown(ctx) {
      try {
        // The last copies of each side, checked before they go.
        await expectSameTree(ctx, join(ctx.work, 'guest', `banger-${ctx.bangerRuns - 1}`));
        await expectSameTree(ctx, join(ctx.work, 'guest', `rsync-${ctx.rsyncRuns - 1}`));
        if (way.breakdown) await logBreakdown(ctx);
      } finally {
        await teardown(ctx);
      }
    },
    // Each run copies into a new directory (removing 20 000 files would blur the timing); teardown removes them all.
    async banger(ctx) {
      const result = await way.sync(ctx, join(ctx.work, 'guest', `banger-${ctx.bangerRuns++}`));
      if (result.transferred.files < repoFiles().length) throw new Error(`first sync sent ${result.transferred.files} files, expected at least ${repoFiles().length}`);
    },
    async runBaseline(ctx) {
      await rsyncTo(ctx, join(ctx.work, 'guest', `rsync-${ctx.rsyncRuns++}`));
    },
  });

const resync = (way: SyncWay) =>
  defineBenchmark<Context>({
    name: `${way.name}, re-sync after touching 1 %`,
    baseline: `${RSYNC}, onto the previous copy`,
    runs: 5,
    skip: sshdUnavailable,
    setup: () =>
      setUpFor(way, async (ctx) => {
        ctx.manifest = (await way.sync(ctx, ctx.bangerDest)).manifest;
        await rsyncTo(ctx, ctx.rsyncDest);
      }),
    async teardown(ctx) {
      try {
        // The last round's other side touched files after this side synced: one more sync each, then both must match.
        ctx.manifest = (await way.sync(ctx, ctx.bangerDest, ctx.manifest)).manifest;
        await rsyncTo(ctx, ctx.rsyncDest);
        await expectSameTree(ctx, ctx.bangerDest);
        await expectSameTree(ctx, ctx.rsyncDest);
        if (way.breakdown) await logBreakdown(ctx, ctx.manifest);
      } finally {
        await teardown(ctx);
      }
    },
    // Both sides rewrite the same 200 files before syncing (a few ms), so each sees exactly 1 % changed.
    async banger(ctx) {
      await touchOnePercent(ctx);
      const result = await way.sync(ctx, ctx.bangerDest, ctx.manifest);
      // The row claims 1 %: fail rather than time a sync that sent something else.
      if (result.transferred.files !== ctx.touched.length) throw new Error(`re-sync sent ${result.transferred.files} files, expected ${ctx.touched.length}`);
      ctx.manifest = result.manifest;
    },
    async runBaseline(ctx) {
      await touchOnePercent(ctx);
      await rsyncTo(ctx, ctx.rsyncDest);
    },
  });

export default [firstSync(SSH2), resync(SSH2), firstSync(AGENT), resync(AGENT)];
