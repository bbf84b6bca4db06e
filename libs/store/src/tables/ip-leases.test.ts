import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../index.js';
import { IpLeasesTable } from './ip-leases.js';
import { VmsTable } from './vms.js';

const lease = (ip: string, owner: string, subnet = '10.0.0.0/24') => ({ subnet, ip, owner, leased_at: 1000 });

describe('IpLeasesTable', () => {
  let db: Database;
  afterEach(() => db?.close());

  it('inserts and reads leases by subnet, owner and address', () => {
    db = openDatabase(':memory:');
    const leases = new IpLeasesTable(db);
    leases.insert(lease('10.0.0.3', 'vm_b'));
    leases.insert(lease('10.0.0.2', 'vm_a'));
    leases.insert(lease('10.1.0.2', 'vm_c', '10.1.0.0/24'));
    expect(leases.ipOf('10.0.0.0/24', 'vm_a')).toBe('10.0.0.2');
    expect(leases.ipOf('10.1.0.0/24', 'vm_a')).toBeUndefined();
    expect(leases.ipsIn('10.0.0.0/24').sort()).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(leases.inSubnet('10.1.0.0/24')).toEqual([lease('10.1.0.2', 'vm_c', '10.1.0.0/24')]);
    expect(leases.ofOwner('vm_b')).toEqual(lease('10.0.0.3', 'vm_b'));
    expect(leases.ofOwner('vm_x')).toBeUndefined();
    expect(leases.isLeased('10.0.0.0/24', '10.0.0.2')).toBe(true);
    expect(leases.isLeased('10.0.0.0/24', '10.0.0.9')).toBe(false);
  });

  it('refuses one address twice in a subnet (the primary key)', () => {
    db = openDatabase(':memory:');
    const leases = new IpLeasesTable(db);
    leases.insert(lease('10.0.0.2', 'vm_a'));
    expect(() => leases.insert(lease('10.0.0.2', 'vm_b'))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SQLITE_CONSTRAINT/) }));
  });

  it('removes the leases of an owner, and those whose owner is no VM', () => {
    db = openDatabase(':memory:');
    const leases = new IpLeasesTable(db);
    new VmsTable(db).insert({
      id: 'vm_live', name: 'live', state: 'running', state_reason: null, image_name: 'i', kernel_name: 'k', hypervisor: 'qemu',
      vcpu: 1, memory_mib: 256, disk_bytes: 1, ip: null, mac: null, tap: null, pid: null, pid_start_time: null, spec: '{}',
      created_at: 1, updated_at: 1,
    });
    leases.insert(lease('10.0.0.2', 'vm_live'));
    leases.insert(lease('10.0.0.3', 'vm_gone'));
    leases.insert(lease('10.0.0.4', 'vm_gone2'));
    leases.insert(lease('10.0.0.5', 'vm_drop'));
    expect(leases.removeOwner('vm_drop')).toBe(1);
    expect(leases.removeOwner('vm_drop')).toBe(0);
    expect(leases.removeOrphans()).toBe(2);
    expect(leases.inSubnet('10.0.0.0/24').map((l) => l.owner)).toEqual(['vm_live']);
  });
});
