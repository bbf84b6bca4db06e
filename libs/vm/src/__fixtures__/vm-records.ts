import { newVmId, VmRepository, type VmRecord } from '../vm-record.js';
import type { testEnv } from './env.js';

/** The QEMU a test record says it was booted with (nothing runs it). */
export const TEST_HYPERVISOR: VmRecord['spec']['hypervisor'] = { kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64', reason: 'test' };

/** Inserts a VM record as the daemon would (`creating`, 1 vCPU, 512 MiB, 1 GiB) with `fields` on top. */
export function insertVmRecord(env: ReturnType<typeof testEnv>, name: string, fields: Partial<VmRecord> = {}): VmRecord {
  const sized = { value: 1, source: 'config', detail: 'x' };
  return new VmRepository(env.db).insert({
    id: fields.id ?? newVmId(),
    name,
    state: 'creating',
    image: 'img',
    kernel: 'k',
    hypervisor: 'qemu',
    vcpu: 1,
    memoryMib: 512,
    diskBytes: 2 ** 30,
    spec: { image: 'img', kernel: 'k', vcpu: sized, memoryMib: sized, diskBytes: sized, hypervisor: TEST_HYPERVISOR, fileSync: [] },
    ...fields,
  });
}
