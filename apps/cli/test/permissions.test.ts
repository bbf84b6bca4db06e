import { randomBytes } from 'node:crypto';
import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolvePaths } from '@banger/config';
import { prerequisites } from '@banger/host/testing';
import { ensureUserKey } from '@banger/ssh';
import { createHarness, type Harness } from './harness.js';

const needs = prerequisites(['useradd', 'userdel', 'runuser'], { root: true });

/**
 * What another local user can reach of someone's banger: a user made for the
 * test, running commands with runuser, against a daemon started by root in a
 * BANGER_HOME whose parents everyone may traverse (so only banger's own modes
 * stand in the way).
 */
describe.skipIf(needs.skip)(`another local user${needs.skip ? ` (skipped: needs ${needs.missing.join(', ')})` : ''}`, () => {
  const user = `bngp${randomBytes(3).toString('hex')}`;
  let h: Harness;

  beforeAll(async () => {
    needs.assert();
    h = await createHarness();
    chmodSync(h.dir, 0o755);
    await execa('useradd', ['-M', '-s', '/usr/sbin/nologin', user]);
  });
  afterAll(async () => {
    await execa('userdel', [user], { reject: false });
    await h?.dispose();
  });
  beforeEach(() => h.freshHome());
  afterEach(() => h.killTracked());

  const asOther = (command: string[]) => execa('runuser', ['-u', user, '--', ...command], { reject: false, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, extendEnv: false, cwd: '/', timeout: 60_000 });

  it('finds the state and runtime directories 0700 and the socket, database, lock key and log 0600', async () => {
    const started = await h.banger(['daemon', 'status', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    h.track((JSON.parse(started.stdout) as { pid: number }).pid);
    const mode = (path: string) => (statSync(join(h.home, path)).mode & 0o777).toString(8);
    expect({
      state: mode('state'),
      run: mode('run'),
      socket: mode('run/bangerd.sock'),
      db: mode('state/banger.db'),
      lockKey: mode('state/daemon-lock.key'),
      log: mode('state/bangerd.log'),
    }).toEqual({ state: '700', run: '700', socket: '600', db: '600', lockKey: '600', log: '600' });
  });

  it('cannot connect to the daemon, read its database or lock key, and banger as that user says why in one line', async () => {
    const started = await h.banger(['daemon', 'status', '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    h.track((JSON.parse(started.stdout) as { pid: number }).pid);
    const socket = join(h.home, 'run', 'bangerd.sock');
    const connect = await asOther([process.execPath, '-e', `require('net').connect(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(3) })`]);
    expect(connect.stdout.trim(), connect.stderr).toBe('EACCES');
    for (const file of ['state/banger.db', 'state/daemon-lock.key', 'state/bangerd.log']) {
      const read = await asOther(['cat', join(h.home, file)]);
      expect(read.exitCode, file).not.toBe(0);
      expect(read.stderr, file).toContain('Permission denied');
    }
    // Pointed at root's BANGER_HOME, banger as that user cannot get in, and says so in one line.
    const banger = () => asOther(['env', `BANGER_HOME=${h.home}`, 'HOME=/tmp', process.execPath, join(h.lib, 'banger.cjs'), 'daemon', 'status']);
    const denied = await banger();
    expect(denied.exitCode).toBe(125);
    expect(denied.stderr.trim()).toBe(`banger: permission denied on ${socket} (hint: the daemon belongs to another user; run banger as that user)`);
    // With BANGER_HOME opened up (0755), the CLI sees the runtime directory is root's and refuses it
    // before connecting, where a socket someone else controls could be a fake daemon.
    chmodSync(h.home, 0o755);
    const cli = await banger();
    expect(cli.exitCode, cli.stderr).toBe(1);
    expect(cli.stderr.trim()).toBe(
      `banger: runtime directory ${join(h.home, 'run')} cannot hold the daemon socket: it belongs to uid 0, not to you (uid ${(await execa('id', ['-u', user])).stdout.trim()}) (hint: remove ${join(h.home, 'run')} (banger makes it again), or set XDG_RUNTIME_DIR to a directory only you can write)`,
    );
  });

  it('cannot read the managed ssh key: 0600 in a 0700 directory, and still denied with every directory above it opened', async () => {
    // What the daemon does at the first VM (vm.sync-files, vm ssh, the agent link): ensureUserKey on
    // the managed key path of this BANGER_HOME. Called directly, so no VM has to boot.
    const keyPath = resolvePaths({ BANGER_HOME: h.home }).managedKeyFile;
    expect(keyPath).toBe(join(h.home, 'config', 'ssh', 'id_ed25519'));
    await ensureUserKey(keyPath);
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    expect({ key: mode(keyPath), dir: mode(join(h.home, 'config', 'ssh')) }).toEqual({ key: '600', dir: '700' });
    const read = await asOther(['cat', keyPath]);
    expect(read.exitCode).not.toBe(0);
    expect(read.stderr).toContain('Permission denied');
    // The key's own mode must hold on its own: open every directory above it (as a careless chmod
    // would); the public key becomes readable, the private key stays denied.
    for (const dir of [h.home, join(h.home, 'config'), join(h.home, 'config', 'ssh')]) chmodSync(dir, 0o755);
    const pub = await asOther(['cat', `${keyPath}.pub`]);
    expect(pub.exitCode, pub.stderr).toBe(0);
    expect(pub.stdout).toMatch(/^ssh-ed25519 AAAA/);
    const again = await asOther(['cat', keyPath]);
    expect(again.exitCode, again.stdout).not.toBe(0);
    expect(again.stderr).toContain('Permission denied');
  });
});
