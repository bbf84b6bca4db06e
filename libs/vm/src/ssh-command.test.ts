import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processStartTime } from '@banger/hypervisor';
import { testEnv } from './__fixtures__/env.js';
import { vmSshCommand } from './ssh-command.js';
import { newVmId, VmRepository } from './vm-record.js';

describe('the ssh command line of vm ssh', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  const insert = (fields: { pid?: number; pidStartTime?: string; state: 'running' | 'stopped' }) => {
    const sized = { value: 1, source: 'config', detail: 'x' };
    new VmRepository(env.db).insert({
      id: newVmId(),
      name: 'sandbox',
      image: 'img',
      kernel: 'k',
      hypervisor: 'qemu',
      vcpu: 1,
      memoryMib: 512,
      diskBytes: 2 ** 30,
      ip: '172.16.0.9',
      spec: { image: 'img', kernel: 'k', vcpu: sized, memoryMib: sized, diskBytes: sized, hypervisor: { kind: 'qemu', accel: 'tcg', binary: 'q', reason: 'r' }, fileSync: [] },
      ...fields,
    });
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
