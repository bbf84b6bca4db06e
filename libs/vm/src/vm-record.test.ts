import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '@banger/store';
import { newVmId, VmRepository, type VmRecord } from './vm-record.js';

const spec: VmRecord['spec'] = {
  image: 'debian-minimal',
  kernel: 'debian-cloud',
  vcpu: { value: 1, source: 'config', detail: 'vm_defaults.vcpu' },
  memoryMib: { value: 512, source: 'flag', detail: '--memory' },
  diskBytes: { value: 2 ** 30, source: 'host', detail: 'state fs/4' },
  hypervisor: { kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64', reason: 'because' },
  fileSync: [{ host: '/home/u/.aws', guest: '/root/.aws' }],
};

const record = (name: string): Omit<VmRecord, 'createdAt' | 'updatedAt'> => ({
  id: newVmId(),
  name,
  state: 'creating',
  image: 'debian-minimal',
  kernel: 'debian-cloud',
  hypervisor: 'qemu',
  vcpu: 1,
  memoryMib: 512,
  diskBytes: 2 ** 30,
  spec,
});

describe('VmRepository on real SQLite', () => {
  let db: Database;
  afterEach(() => db?.close());

  it('round-trips a record, spec included, and lists by name', () => {
    db = openDatabase(':memory:');
    const repo = new VmRepository(db);
    repo.insert(record('zeta'));
    const inserted = repo.insert(record('alpha'));
    expect(inserted).toMatchObject({ name: 'alpha', state: 'creating', spec });
    expect(inserted.ip).toBeUndefined();
    expect(repo.list().map((v) => v.name)).toEqual(['alpha', 'zeta']);
    expect(repo.names()).toEqual(['alpha', 'zeta']);
  });

  it('updates only the given fields and clears nullable ones with null', () => {
    db = openDatabase(':memory:');
    const repo = new VmRepository(db);
    const vm = repo.insert(record('alpha'));
    repo.update(vm.id, { state: 'running', ip: '172.16.0.2', pid: 42, pidStartTime: '1234', stateReason: 'booted' });
    expect(repo.get('alpha')).toMatchObject({ state: 'running', ip: '172.16.0.2', pid: 42, pidStartTime: '1234', stateReason: 'booted', vcpu: 1 });
    const cleared = repo.update(vm.id, { pid: null, pidStartTime: null, stateReason: null });
    expect(cleared?.pid).toBeUndefined();
    expect(cleared?.stateReason).toBeUndefined();
    expect(cleared?.ip).toBe('172.16.0.2');
  });

  it('refuses a second VM of the same name with a ConflictError naming it', () => {
    db = openDatabase(':memory:');
    const repo = new VmRepository(db);
    repo.insert(record('alpha'));
    expect(() => repo.insert(record('alpha'))).toThrow(expect.objectContaining({ code: 'VM_EXISTS', message: 'vm alpha already exists' }));
  });

  it('says which VMs exist when a name is unknown', () => {
    db = openDatabase(':memory:');
    const repo = new VmRepository(db);
    repo.insert(record('alpha'));
    expect(() => repo.get('beta')).toThrow('vm beta does not exist (VMs: alpha)');
    repo.remove(repo.get('alpha').id);
    expect(() => repo.get('alpha')).toThrow('vm alpha does not exist');
  });
});
