import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '@banger/errors';
import type { VmSpec } from './driver.js';

/** Firecracker's resource-id rule (drives, interfaces): alphanumerics and `_` only. */
export const RESOURCE_ID = /^[A-Za-z0-9_]+$/;

/**
 * Rejects a spec a driver cannot boot, naming the bad field, before any
 * process is spawned: ids, sizes, and host files that must exist.
 */
export function validateVmSpec(spec: VmSpec): void {
  const bad = (what: string, hint?: string) =>
    new UserError('VM_SPEC_INVALID', `VM ${spec.name || spec.id}: ${what}`, hint ? { hint } : {});
  if (!RESOURCE_ID.test(spec.id) || spec.id.length > 64) throw bad(`id "${spec.id}" must be 1–64 characters of [A-Za-z0-9_]`);
  if (!Number.isInteger(spec.vcpu) || spec.vcpu < 1 || spec.vcpu > 32) throw bad(`vcpu = ${spec.vcpu} must be an integer from 1 to 32`);
  if (!Number.isInteger(spec.memoryMib) || spec.memoryMib < 128) throw bad(`memory_mib = ${spec.memoryMib} must be an integer ≥ 128`);
  if (spec.disks.length === 0) throw bad('no root disk');
  const ids = new Set<string>();
  for (const disk of spec.disks) {
    if (!RESOURCE_ID.test(disk.id)) throw bad(`disk id "${disk.id}" must match [A-Za-z0-9_]+`);
    if (ids.has(disk.id)) throw bad(`disk id "${disk.id}" is used twice`);
    ids.add(disk.id);
  }
  const files: Array<[string, string]> = [
    ['kernel', spec.kernel.vmlinux],
    ['initrd', spec.kernel.initrd],
    ...spec.disks.map((d): [string, string] => [`disk ${d.id}`, d.path]),
  ];
  for (const [what, path] of files) {
    if (!existsSync(path)) throw bad(`${what} ${path} does not exist`, 'pull the image/kernel again (banger image pull / banger kernel pull)');
  }
  if (spec.net && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.net.mac)) throw bad(`MAC "${spec.net.mac}" is not aa:bb:cc:dd:ee:ff`);
  if (spec.net && (spec.net.tap.length === 0 || spec.net.tap.length > 15)) throw bad(`tap name "${spec.net.tap}" must be 1–15 characters`);
}

/** Per-VM file layout inside vmDir, shared by drivers so cleanup knows every path. */
export const vmFiles = (vmDir: string) => ({
  firecrackerSocket: join(vmDir, 'firecracker.sock'),
  firecrackerLog: join(vmDir, 'firecracker.log'),
  qmpSocket: join(vmDir, 'qmp.sock'),
  qemuPidFile: join(vmDir, 'qemu.pid'),
  /** The hypervisor's own stderr/log, separate from the guest console. */
  hypervisorLog: join(vmDir, 'hypervisor.log'),
});
