import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTime } from '@banger/hypervisor';
import { testEnv } from './__fixtures__/env.js';
import { insertVmRecord } from './__fixtures__/vm-records.js';
import { untilSshdListens, vmSshCommand } from './ssh-command.js';

describe('the ssh command line of vm ssh', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  const insert = (fields: { pid?: number; pidStartTime?: string; state: 'running' | 'stopped' }) => {
    insertVmRecord(env, 'sandbox', { ip: '172.16.0.9', ...fields });
  };

  it("uses banger's key and pinned known_hosts with strict checking against <name>.vm, quoting the command words", async () => {
    env = testEnv();
    // This test process stands in for a live hypervisor: same pid and start time check.
    insert({ state: 'running', pid: process.pid, pidStartTime: processStartTime(process.pid)! });
    const { argv, ip } = await vmSshCommand(env, 'sandbox', { command: ['sh', '-c', 'echo "a b"'] });
    expect(ip).toBe('172.16.0.9');
    const key = join(env.paths.sshDir, 'id_ed25519');
    expect(existsSync(key)).toBe(true);
    expect(argv.slice(0, 5)).toEqual(['ssh', '-i', key, '-F', '/dev/null']);
    for (const option of [
      'IdentitiesOnly=yes',
      `UserKnownHostsFile=${join(env.paths.sshDir, 'known_hosts')}`,
      'GlobalKnownHostsFile=/dev/null',
      'StrictHostKeyChecking=yes',
      'HostKeyAlias=sandbox.vm',
      'BatchMode=yes',
    ]) {
      expect(argv).toContain(option);
    }
    expect(argv.slice(-5)).toEqual(['-l', 'root', '--', '172.16.0.9', `sh -c 'echo "a b"'`]);
  });

  it('refuses a VM that is not running, saying how to start it', async () => {
    env = testEnv();
    insert({ state: 'stopped' });
    await expect(vmSshCommand(env, 'sandbox')).rejects.toMatchObject({
      code: 'VM_NOT_RUNNING',
      exitCode: 1,
      message: 'vm sandbox is not running (state stopped)',
      hint: 'start it with banger vm start sandbox',
    });
  });
});

describe('vm ssh waits for the guest sshd', () => {
  let env: ReturnType<typeof testEnv>;
  let server: Server | undefined;
  let guest: ChildProcess | undefined;
  afterEach(async () => {
    guest?.kill('SIGKILL');
    await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
    server = undefined;
    env?.cleanup();
  });

  /** A free loopback port, closed again: nothing listens on it until the test says so. */
  const freePort = async (): Promise<number> => {
    const probe = createServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    const { port } = probe.address() as AddressInfo;
    await new Promise((ok) => probe.close(ok));
    return port;
  };

  it('returns once the port accepts connections, however late it starts listening (a guest still booting)', async () => {
    env = testEnv();
    insertVmRecord(env, 'sandbox', { ip: '127.0.0.1', state: 'running', pid: process.pid, pidStartTime: processStartTime(process.pid)! });
    const port = await freePort();
    const started = Date.now();
    setTimeout(() => {
      server = createServer((c) => c.destroy()).listen(port, '127.0.0.1');
    }, 700);
    await untilSshdListens(env, 'sandbox', { port });
    expect(Date.now() - started).toBeGreaterThanOrEqual(650);
    expect(server?.listening).toBe(true);
  });

  it('gives up with a one-line error when the VM process ends while it waits', async () => {
    env = testEnv();
    guest = spawn('sleep', ['60']);
    await new Promise((ok) => guest!.once('spawn', ok));
    insertVmRecord(env, 'sandbox', { ip: '127.0.0.1', state: 'running', pid: guest.pid!, pidStartTime: processStartTime(guest.pid!)! });
    const port = await freePort();
    setTimeout(() => guest?.kill('SIGKILL'), 500);
    await expect(untilSshdListens(env, 'sandbox', { port })).rejects.toMatchObject({ code: 'VM_NOT_RUNNING', message: 'vm sandbox stopped while banger waited for its sshd' });
  });
});
