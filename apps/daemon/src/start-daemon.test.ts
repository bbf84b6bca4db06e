import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '@banger/api';
import { CancelledError, UserError } from '@banger/errors';
import { openDatabase } from '@banger/store';
import { startDaemon, type RunningDaemon } from './start-daemon.js';
import { services } from './services/index.js';
import { completeService } from './services/complete.js';

let home: string;
let env: NodeJS.ProcessEnv;
const running: RunningDaemon[] = [];

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'bangerd-'));
  env = { HOME: home, BANGER_HOME: home };
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop('test over')));
  rmSync(home, { recursive: true, force: true });
});

async function start(extra: NodeJS.ProcessEnv = {}): Promise<RunningDaemon> {
  const daemon = await startDaemon({ env: { ...env, ...extra } });
  running.push(daemon);
  return daemon;
}

describe('startDaemon', () => {
  it('listens on a 0600 socket inside a 0700 directory and answers hello', async () => {
    const daemon = await start();
    const socket = daemon.ctx.paths.socketPath;
    expect(socket).toBe(join(home, 'run', 'bangerd.sock'));
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'run')).mode & 0o777).toBe(0o700);
    const client = await ApiClient.connect(socket);
    expect(await client.call('hello', { clientVersion: '0.1.0' })).toMatchObject({ daemonVersion: '0.1.0', protocolVersion: 1, pid: process.pid });
    client.close();
  });

  it('answers garbage and an oversized line with errors and keeps serving other clients', async () => {
    const daemon = await start();
    const { connect } = await import('node:net');
    const garbage = connect(daemon.ctx.paths.socketPath);
    const replies: string[] = [];
    garbage.on('data', (d: Buffer) => replies.push(...d.toString().split('\n').filter(Boolean)));
    const closed = new Promise((r) => garbage.once('close', r));
    garbage.write('\u0000\u0001 not json\n');
    garbage.write(`{"id":"big","method":"hello","params":{"clientVersion":"${'x'.repeat(1024 * 1024)}"}}\n`);
    await closed;
    expect(replies.map((r) => JSON.parse(r))).toMatchObject([
      { id: null, error: { code: 'PROTOCOL_INVALID_JSON' } },
      { id: 'big', error: { code: 'PROTOCOL_LINE_TOO_LONG' } },
    ]);
    const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
    expect((await client.call('daemon.status', {})).pid).toBe(process.pid);
    client.close();
  });

  it('refuses a second daemon for the same state dir, naming the first one', async () => {
    const first = await start();
    const error = await startDaemon({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      code: 'DAEMON_ALREADY_RUNNING',
      message: `already running (pid ${process.pid}, socket ${first.ctx.paths.socketPath})`,
      exitCode: 1,
    });
    // The refused one must not have removed the live socket.
    const client = await ApiClient.connect(first.ctx.paths.socketPath);
    expect((await client.call('hello', { clientVersion: 'x' })).pid).toBe(process.pid);
    client.close();
  });

  it('starts although another local user holds the lock name computed from the uid and state dir alone', async () => {
    const { createHash } = await import('node:crypto');
    const { createServer } = await import('node:net');
    // The name an earlier banger used, which anyone could compute and bind first.
    const guessable = `\0banger-${createHash('sha256').update(`${process.getuid?.() ?? 0}\0${home}`).digest('hex').slice(0, 24)}`;
    const squatter = createServer((socket) => socket.end('{"pid":1,"socket":"/tmp/evil\\u001b]0;pwned"}\n'));
    await new Promise<void>((resolve) => squatter.listen(guessable, resolve));
    try {
      const daemon = await start();
      const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
      expect((await client.call('hello', { clientVersion: 'x' })).pid).toBe(process.pid);
      client.close();
      expect(statSync(join(home, 'state', 'daemon-lock.key')).mode & 0o777).toBe(0o600);
    } finally {
      squatter.close();
    }
  });

  it('refuses a runtime directory that is a symlink, and leaves its target alone', async () => {
    const target = join(home, 'elsewhere');
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    symlinkSync(target, join(home, 'run'));
    const error = await startDaemon({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`runtime directory ${join(home, 'run')} cannot hold the daemon socket: it is a symlink`);
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(existsSync(join(target, 'bangerd.sock'))).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('refuses a runtime directory that belongs to another user', async () => {
    mkdirSync(join(home, 'run'), { mode: 0o777 });
    chownSync(join(home, 'run'), 65534, 65534);
    const error = await startDaemon({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`runtime directory ${join(home, 'run')} cannot hold the daemon socket: it belongs to uid 65534, not to you (uid 0)`);
  });

  it('refuses a lock key that is a symlink instead of reading through it', async () => {
    writeFileSync(join(home, 'planted'), `${'a'.repeat(64)}\n`, { mode: 0o600 });
    mkdirSync(join(home, 'state'), { mode: 0o700 });
    symlinkSync(join(home, 'planted'), join(home, 'state', 'daemon-lock.key'));
    const error = await startDaemon({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toBe(`cannot read ${join(home, 'state', 'daemon-lock.key')}: it is a symlink`);
  });

  it('removes its socket and frees the lock when stopped, so the next daemon starts', async () => {
    const first = await start();
    await first.stop('test');
    expect(existsSync(first.ctx.paths.socketPath)).toBe(false);
    const second = await start();
    expect(existsSync(second.ctx.paths.socketPath)).toBe(true);
  });

  it('replaces a stale socket file left by a killed daemon', async () => {
    mkdirSync(join(home, 'run'), { recursive: true });
    const { createServer } = await import('node:net');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(join(home, 'run', 'bangerd.sock'), () => r()));
    // Closing without unlinking leaves the file exactly as kill -9 would.
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    const daemon = await start();
    const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
    expect((await client.call('hello', { clientVersion: 'x' })).pid).toBe(process.pid);
    client.close();
  });

  it('refuses to start with a bad config and says which file and key', async () => {
    mkdirSync(join(home, 'config'), { recursive: true });
    writeFileSync(join(home, 'config', 'config.toml'), 'hypervisor = "vmware"\n');
    const error = await startDaemon({ env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain('config.toml');
    expect((error as Error).message).toContain('hypervisor');
    expect(existsSync(join(home, 'run', 'bangerd.sock'))).toBe(false);
    expect(readFileSync(join(home, 'state', 'bangerd.log'), 'utf8')).toContain('bangerd failed to start');
  });

  it('reports status with VM counts and completes names from the database', async () => {
    const daemon = await start();
    // Rows are added behind the daemon's back, after its start-up reconciliation ran.
    const db = openDatabase(daemon.ctx.paths.dbFile);
    const insert = db.prepare(
      `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, spec, created_at, updated_at)
       VALUES (?, ?, ?, 'img', 'k', 'qemu', 1, 512, 1, '{}', 0, 0)`,
    );
    insert.run('1', 'web', 'running');
    insert.run('2', 'api', 'stopped');
    insert.run('3', 'db', 'failed');
    db.prepare(`INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, source, created_at) VALUES ('debian-bookworm', '1', '/x', '/x/r', 1, 'h', '{}', 0)`).run();
    db.close();
    const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
    const status = await client.call('daemon.status', {});
    expect(status).toMatchObject({ pid: process.pid, version: '0.1.0', stateDir: join(home, 'state'), vms: { total: 3, running: 1, stopped: 1 } });
    expect(new Date(status.startedAt).getTime()).toBeLessThanOrEqual(Date.now());
    expect(await client.call('complete.names', { kind: 'vm' })).toEqual(['api', 'db', 'web']);
    expect(await client.call('complete.names', { kind: 'image' })).toEqual(['debian-bookworm']);
    expect(await client.call('complete.names', { kind: 'kernel' })).toEqual([]);
    expect(await client.call('complete.names', { kind: 'session' })).toEqual([]);
    client.close();
  });

  it('replies to daemon.shutdown, then stops', async () => {
    const daemon = await start();
    const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
    expect(await client.call('daemon.shutdown', {})).toEqual({ pid: process.pid });
    await daemon.stopped;
    expect(existsSync(daemon.ctx.paths.socketPath)).toBe(false);
  });

  it('aborts a call that outlives the grace period when stopping, and the caller learns why', async () => {
    const daemon = await startDaemon({
      env,
      graceMs: 100,
      services: [
        ...services.filter((service) => service !== completeService),
        (_ctx, server) =>
          void server.handle('complete.names', (_p, { signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)))),
      ],
    });
    running.push(daemon);
    const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
    const call = client.call('complete.names', { kind: 'vm' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await daemon.stop('test');
    const error = await call;
    expect(error).toBeInstanceOf(CancelledError);
    expect((error as Error).message).toContain('bangerd is stopping');
  });
});
