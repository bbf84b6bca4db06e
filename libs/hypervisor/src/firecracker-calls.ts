import type { VmSpec } from './driver.js';
import type { FirecrackerCall } from './firecracker-api.js';
import { vmFiles } from './vm-spec.js';


/** Guest CID of every VM: each VM has its own vsock UDS, so the CID need not be unique. */
export const GUEST_CID = 3;

/**
 * The boot arguments Firecracker gets. Setting boot_args replaces
 * Firecracker's default line entirely, so `reboot=k panic=1` (guest reboot and
 * panic end the process) are added when the VM layer did not pass them.
 * Firecracker itself appends `root=/dev/vda rw` and `pci=off`.
 */
export function firecrackerBootArgs(bootArgs: string): string {
  const parts = bootArgs.trim().split(/\s+/).filter(Boolean);
  if (!parts.some((p) => p.startsWith('reboot='))) parts.push('reboot=k');
  if (!parts.some((p) => p.startsWith('panic='))) parts.push('panic=1');
  return parts.join(' ');
}

/**
 * The configuration requests, in the order the driver sends them, ending with
 * InstanceStart. Pure, so the exact sequence is testable.
 */
export function buildFirecrackerCalls(spec: VmSpec): FirecrackerCall[] {
  const files = vmFiles(spec.vmDir);
  const calls: FirecrackerCall[] = [
    // First, so errors in the following calls are logged to the file.
    { method: 'PUT', path: '/logger', body: { log_path: files.firecrackerLog, level: 'Info', show_level: true, show_log_origin: false } },
    { method: 'PUT', path: '/machine-config', body: { vcpu_count: spec.vcpu, mem_size_mib: spec.memoryMib, smt: false } },
    {
      method: 'PUT',
      path: '/boot-source',
      body: { kernel_image_path: spec.kernel.vmlinux, initrd_path: spec.kernel.initrd, boot_args: firecrackerBootArgs(spec.bootArgs) },
    },
  ];
  spec.disks.forEach((disk, index) => {
    calls.push({
      method: 'PUT',
      path: `/drives/${disk.id}`,
      body: {
        drive_id: disk.id,
        path_on_host: disk.path,
        is_root_device: index === 0,
        is_read_only: disk.readOnly,
        // Honour guest flushes: these disks hold the user's work.
        cache_type: 'Writeback',
      },
    });
  });
  if (spec.net) {
    calls.push({
      method: 'PUT',
      path: '/network-interfaces/eth0',
      body: { iface_id: 'eth0', host_dev_name: spec.net.tap, guest_mac: spec.net.mac },
    });
  }
  if (spec.agentSocketPath) {
    calls.push({ method: 'PUT', path: '/vsock', body: { guest_cid: GUEST_CID, uds_path: spec.agentSocketPath } });
  }
  calls.push({ method: 'PUT', path: '/actions', body: { action_type: 'InstanceStart' } });
  return calls;
}

/** Firecracker's `--id` allows alphanumerics and `-` (not `_`, unlike resource ids). */
export const firecrackerInstanceId = (vmId: string): string => vmId.replaceAll('_', '-').slice(0, 64);

/** The firecracker argv (without the binary). */
export function buildFirecrackerArgs(spec: VmSpec): string[] {
  return ['--api-sock', vmFiles(spec.vmDir).firecrackerSocket, '--id', firecrackerInstanceId(spec.id)];
}
