import { describe, expect, it } from 'vitest';
import { formatVmDetails, formatVmTable } from './list.js';

const base = {
  id: 'vm_0123456789ab',
  image: 'debian-minimal',
  kernel: 'debian-cloud',
  vcpu: 2,
  memoryMib: 2048,
  diskBytes: 8 * 2 ** 30,
  hypervisor: 'qemu/tcg',
  createdAt: '2026-11-30T01:00:00.000Z',
};

describe('vm list and show output', () => {
  it('prints one aligned row per VM with state, address, sizing and age, marking interrupted creations', () => {
    const now = Date.parse('2026-11-30T03:05:10.000Z');
    const table = formatVmTable(
      [
        { ...base, name: 'alpha', state: 'running', ip: '172.16.0.2' },
        { ...base, name: 'beta', state: 'creating', stateReason: 'creation interrupted; run banger vm create --name beta to resume' },
      ],
      now,
    );
    expect(table.split('\n')).toEqual([
      'NAME   STATE                   IP          IMAGE           VCPU  MEM       AGE',
      'alpha  running                 172.16.0.2  debian-minimal  2     2048 MiB  2h 5m',
      'beta   creating (interrupted)  -           debian-minimal  2     2048 MiB  2h 5m',
    ]);
  });

  it('shows which hypervisor runs the VM and why', () => {
    const text = formatVmDetails({
      ...base,
      name: 'alpha',
      state: 'running',
      ip: '172.16.0.2',
      pid: 4242,
      dir: '/s/vms/alpha',
      consoleLog: '/s/vms/alpha/console.log',
      hypervisorDetails: { kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64', version: '7.2.22', reason: 'Firecracker is not usable (no /dev/kvm), so QEMU with TCG emulation' },
      sizing: { vcpu: '2 (flag --vcpu)', memoryMib: '2048 MiB (config)', diskBytes: '8589934592 bytes (host: state fs/4)' },
      fileSync: [{ host: '/home/u/.aws', guest: '/root/.aws' }],
    });
    expect(text).toContain('  hypervisor: qemu 7.2.22 (tcg) /usr/bin/qemu-system-x86_64, pid 4242');
    expect(text).toContain('  why:        Firecracker is not usable (no /dev/kvm), so QEMU with TCG emulation');
    expect(text).toContain('  disk:       8.0 GiB (host: state fs/4)');
    expect(text).toContain('  file_sync:  /home/u/.aws → /root/.aws');
  });
});
