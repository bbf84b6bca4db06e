import { existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { processAlive } from '@banger/host';
import { waitForExit } from '../src/daemon-client/wait-exit.js';
import { readLog, useHarness } from './harness.js';

const h = useHarness();

async function status(extraEnv: Record<string, string> = {}): Promise<{ pid: number; version: string; stderr: string; json: Record<string, unknown> }> {
  const r = await h.banger(['daemon', 'status', '--json'], extraEnv);
  expect(r.stderr.includes('banger:') ? r.stderr : '', 'stderr').not.toMatch(/error/i);
  expect(r.exitCode).toBe(0);
  const json = JSON.parse(r.stdout) as Record<string, unknown>;
  h.track(json['pid'] as number);
  return { pid: json['pid'] as number, version: json['version'] as string, stderr: r.stderr, json };
}

describe('banger and bangerd as real processes', () => {
  it('starts the daemon on the first call and reports its status as JSON', async () => {
    const s = await status();
    expect(s.json).toMatchObject({
      version: '0.1.0',
      protocolVersion: 1,
      socket: join(h.home, 'run', 'bangerd.sock'),
      stateDir: join(h.home, 'state'),
      logFile: join(h.home, 'state', 'bangerd.log'),
      vms: { total: 0, running: 0, stopped: 0 },
    });
    // The DNS service reports its loopback listener, or null when its port was taken.
    expect([null, expect.objectContaining({ address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) })]).toContainEqual(s.json['dns']);
    expect(processAlive(s.pid)).toBe(true);
    expect(statSync(join(h.home, 'run', 'bangerd.sock')).mode & 0o777).toBe(0o600);
    expect(readLog(h)).toContain('"msg":"bangerd started"');
    // The second call reuses the same daemon.
    expect((await status()).pid).toBe(s.pid);
    const human = await h.banger(['daemon', 'status']);
    expect(human.stdout).toContain(`bangerd 0.1.0 is running`);
    expect(human.stdout).toMatch(new RegExp(`pid:\\s+${s.pid}`));
  });

  it('refuses, in one line and with exit 1, a runtime directory that another user replaced with a symlink', async () => {
    const elsewhere = join(h.home, 'someone-elses');
    mkdirSync(elsewhere, { recursive: true, mode: 0o755 });
    symlinkSync(elsewhere, join(h.home, 'run'));
    const r = await h.banger(['daemon', 'status']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim()).toBe(
      `banger: runtime directory ${join(h.home, 'run')} cannot hold the daemon socket: it is a symlink (hint: remove ${join(h.home, 'run')} (banger makes it again), or set XDG_RUNTIME_DIR to a directory only you can write)`,
    );
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('refuses to start on a damaged state database, in one line naming the file, with exit 125', async () => {
    const first = await status();
    expect((await h.banger(['daemon', 'stop'])).exitCode).toBe(0);
    expect(await waitForExit(first.pid, 10_000)).toBe(true);
    const db = join(h.home, 'state', 'banger.db');
    writeFileSync(db, 'this is not an SQLite file'.repeat(100));
    const r = await h.banger(['daemon', 'status']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`^banger: the state database ${db} is damaged: file is not a database \\(hint: .*mv ${db} ${db}\\.damaged`));
  });

  it('ends up with one daemon when several CLIs start it at the same time', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => h.banger(['daemon', 'status', '--json'])));
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);
    const pids = new Set(runs.map((r) => (JSON.parse(r.stdout) as { pid: number }).pid));
    pids.forEach((pid) => h.track(pid));
    expect(pids.size).toBe(1);
  });

  it('refuses a second daemon with a one-line message naming the first', async () => {
    const s = await status();
    const second = await execa(process.execPath, [h.bangerd], { env: h.env, extendEnv: false, reject: false, timeout: 30_000 });
    expect(second.exitCode).toBe(1);
    expect(String(second.stderr).trim()).toBe(
      `bangerd: already running (pid ${s.pid}, socket ${join(h.home, 'run', 'bangerd.sock')}) (hint: stop it first with: banger daemon stop)`,
    );
    expect(processAlive(s.pid)).toBe(true);
    expect((await status()).pid).toBe(s.pid);
  });

  it('replaces a daemon of another version with its own', async () => {
    const old = await status({ BANGER_VERSION_OVERRIDE: '0.0.9-old' });
    expect(old.version).toBe('0.0.9-old');
    const now = await status();
    expect(now.version).toBe('0.1.0');
    expect(now.pid).not.toBe(old.pid);
    expect(now.stderr).toContain(`banger: replacing bangerd 0.0.9-old (pid ${old.pid}) with 0.1.0`);
    expect(processAlive(old.pid)).toBe(false);
  });

  it('starts a new daemon after the old one was killed with SIGKILL', async () => {
    const first = await status();
    process.kill(first.pid, 'SIGKILL');
    expect(await waitForExit(first.pid, 5_000)).toBe(true);
    // The stale socket file is still there: the new daemon must clean it up.
    expect(existsSync(join(h.home, 'run', 'bangerd.sock'))).toBe(true);
    const second = await status();
    expect(second.pid).not.toBe(first.pid);
  });

  it('stops the daemon, removes its socket, and says so; stopping again is not an error', async () => {
    const s = await status();
    const stop = await h.banger(['daemon', 'stop']);
    expect(stop).toMatchObject({ exitCode: 0, stdout: `bangerd stopped (pid ${s.pid})\n` });
    expect(processAlive(s.pid)).toBe(false);
    expect(existsSync(join(h.home, 'run', 'bangerd.sock'))).toBe(false);
    expect(await h.banger(['daemon', 'stop'])).toMatchObject({ exitCode: 0, stdout: 'bangerd is not running\n' });
  });

  it('restarts the daemon under a new pid', async () => {
    const s = await status();
    const r = await h.banger(['daemon', 'restart', '--json']);
    expect(r.exitCode).toBe(0);
    const out = JSON.parse(r.stdout) as { previousPid: number; pid: number };
    h.track(out.pid);
    expect(out.previousPid).toBe(s.pid);
    expect(out.pid).not.toBe(s.pid);
    expect(processAlive(s.pid)).toBe(false);
  });

  it('shows the daemon refusing a bad config as the CLI error, exit 1, and leaves no daemon', async () => {
    mkdirSync(join(h.home, 'config'), { recursive: true });
    writeFileSync(join(h.home, 'config', 'config.toml'), 'bridge_name = "br0"\nvcpus = 4\n');
    const r = await h.banger(['daemon', 'status']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^banger: .*config\.toml.*vcpus/);
    expect(existsSync(join(h.home, 'run', 'bangerd.sock'))).toBe(false);
  });

  it('pretty-prints the daemon log', async () => {
    await status();
    const r = await h.banger(['daemon', 'logs']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  bangerd started version=0\.1\.0 socket=\S+bangerd\.sock/m);
    expect(r.stdout).not.toContain('{"level"');
    const last = await h.banger(['daemon', 'logs', '-n', '1']);
    expect(last.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('reports usage errors on one line with exit 1, and shows help for a bare banger', async () => {
    const bad = await h.banger(['daemon', 'status', '--frobnicate']);
    expect(bad).toMatchObject({ exitCode: 1, stdout: '', stderr: "banger: unknown option '--frobnicate' (hint: see banger daemon status --help)\n" });
    const unknown = await h.banger(['frobnicate']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toBe("banger: unknown command 'frobnicate' (hint: see banger --help)\n");
    const bare = await h.banger([]);
    expect(bare.exitCode).toBe(0);
    expect(bare.stdout).toContain('Usage: banger');
    expect(existsSync(join(h.home, 'run'))).toBe(false);
  });

  it('fails with exit 125 and points at the log when bangerd cannot be found', async () => {
    const r = await h.banger(['daemon', 'status'], { BANGER_DAEMON_BIN: join(h.dir, 'missing-bangerd.js') });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toBe(`banger: BANGER_DAEMON_BIN points at ${join(h.dir, 'missing-bangerd.js')}, which does not exist (hint: unset it or point it at bangerd.js)\n`);
  });

  it('runs doctor without starting the daemon, and its exit status follows the report', async () => {
    const r = await h.banger(['doctor', '--json']);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ title: string; status: string; detail: string }> };
    expect(r.exitCode).toBe(report.ok ? 0 : 1);
    const daemon = report.checks.find((c) => c.detail.includes('bangerd.sock'));
    expect(daemon?.detail).toMatch(/^not running/);
    // The .vm DNS check needs a daemon and says how to start one, rather than starting it.
    expect(report.checks.find((c) => (c as { id?: string }).id === 'dns')).toMatchObject({
      status: 'warn',
      detail: 'daemon not running; .vm names cannot be checked',
      hint: expect.stringContaining('banger daemon start'),
    });
    expect(report.checks.find((c) => (c as { id?: string }).id === 'first-run')).toMatchObject({ status: 'ok', detail: 'not checked: the daemon is not running (it knows the catalogs)' });
    expect(existsSync(join(h.home, 'run', 'bangerd.sock'))).toBe(false);
  });

  it('runs the .vm DNS check against a daemon that is already running', async () => {
    // Its own port: other daemons on this host (parallel test files) may hold the default one.
    mkdirSync(join(h.home, 'config'), { recursive: true });
    writeFileSync(join(h.home, 'config', 'config.toml'), `dns_port = ${await freeUdpTcpPort()}\n`);
    const s = await status();
    const r = await h.banger(['doctor', '--json']);
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; detail: string }> };
    // A fresh home has no VM: the check names where the zone is served.
    expect(report.checks.find((c) => c.id === 'dns')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^served on 127\.0\.0\.1:\d+ \(loopback\); no VM with an address to resolve yet$/),
    });
    // A fresh home has nothing installed: the embedded catalogs build both defaults from recipes.
    expect(report.checks.find((c) => c.id === 'first-run')).toMatchObject({
      detail: expect.stringMatching(/^image debian-bookworm is built from its recipe; kernel debian-cloud is built from its recipe(; this host has what the build needs|, but the build lacks .+)$/),
    });
    // Same daemon afterwards: the doctor only asked it.
    expect((await status()).pid).toBe(s.pid);
  });
});

/** A port free for both TCP and UDP on 127.0.0.1 right now (the DNS server takes both). */
async function freeUdpTcpPort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4').once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}
