import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../index.js';
import { VmsTable, type VmRow } from './vms.js';

const row = (name: string, id = `vm_${name}`): VmRow => ({
  id,
  name,
  state: 'creating',
  state_reason: null,
  image_name: 'debian-minimal',
  kernel_name: 'debian-cloud',
  hypervisor: 'qemu',
  vcpu: 1,
  memory_mib: 512,
  disk_bytes: 2 ** 30,
  ip: null,
  mac: null,
  tap: null,
  pid: null,
  pid_start_time: null,
  spec: '{"image":"debian-minimal"}',
  created_at: 1000,
  updated_at: 1000,
});

describe('VmsTable', () => {
  let db: Database;
  afterEach(() => db?.close());

  it('inserts, finds by name and id, and lists by name', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    vms.insert(row('zeta'));
    vms.insert(row('alpha'));
    expect(vms.find('alpha')).toEqual(row('alpha'));
    expect(vms.findById('vm_zeta')?.name).toBe('zeta');
    expect(vms.find('nope')).toBeUndefined();
    expect(vms.all().map((r) => r.name)).toEqual(['alpha', 'zeta']);
    expect(vms.names()).toEqual(['alpha', 'zeta']);
  });

  it('refuses a second row of one name with SQLITE_CONSTRAINT_UNIQUE', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    vms.insert(row('alpha', 'vm_1'));
    expect(() => vms.insert(row('alpha', 'vm_2'))).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }));
  });

  it('writes only the given columns, null clears, and always sets updated_at', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    vms.insert(row('alpha'));
    vms.update('vm_alpha', { state: 'running', ip: '172.16.0.2', pid: 42, pid_start_time: '1234' }, 2000);
    expect(vms.find('alpha')).toMatchObject({ state: 'running', ip: '172.16.0.2', pid: 42, pid_start_time: '1234', vcpu: 1, updated_at: 2000 });
    vms.update('vm_alpha', { pid: null, pid_start_time: null }, 3000);
    expect(vms.find('alpha')).toMatchObject({ pid: null, pid_start_time: null, ip: '172.16.0.2', updated_at: 3000 });
    vms.update('vm_alpha', {}, 4000);
    expect(vms.find('alpha')).toMatchObject({ state: 'running', updated_at: 4000 });
  });

  it('removes by id', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    vms.insert(row('alpha'));
    vms.remove('vm_alpha');
    vms.remove('vm_alpha');
    expect(vms.all()).toEqual([]);
  });

  it('counts all, running and stopped VMs (zeros on an empty table)', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    expect(vms.counts()).toEqual({ total: 0, running: 0, stopped: 0 });
    vms.insert({ ...row('a'), state: 'running' });
    vms.insert({ ...row('b'), state: 'stopped' });
    vms.insert(row('c'));
    expect(vms.counts()).toEqual({ total: 3, running: 1, stopped: 1 });
  });

  it('looks an address up by lower-cased name, only when the VM has one', () => {
    db = openDatabase(':memory:');
    const vms = new VmsTable(db);
    const ipOf = vms.ipLookup();
    vms.insert({ ...row('Sandbox'), ip: '172.16.0.5' });
    vms.insert(row('noip'));
    expect(ipOf('sandbox')).toBe('172.16.0.5');
    expect(ipOf('noip')).toBeUndefined();
    expect(ipOf('other')).toBeUndefined();
  });
});
