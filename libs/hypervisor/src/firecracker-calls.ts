import { isAbsolute, relative } from 'node:path';
import { savedMemoryFile, type VmSpec } from './driver.js';
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
 * A disk's `path_on_host`: relative to the VM directory when the disk lies in
 * it (the driver starts Firecracker there, so it opens the same file). A
 * snapshot keeps the paths its drives were given and a restore reopens them
 * from the new process's directory, so a state saved in one directory —
 * a warm template built under a temp name and renamed — restores in another
 * that holds its own copies under the same names. Disks elsewhere (the shared
 * read-only modules and agent runtime) stay absolute: every VM opens the same.
 */
export function drivePathOnHost(vmDir: string, path: string): string {
  const inside = relative(vmDir, path);
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : path;
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
        path_on_host: drivePathOnHost(spec.vmDir, disk.path),
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
      path: `/network-interfaces/${NET_IFACE_ID}`,
      body: { iface_id: NET_IFACE_ID, host_dev_name: spec.net.tap, guest_mac: spec.net.mac },
    });
  }
  if (spec.agentSocketPath) {
    calls.push({ method: 'PUT', path: '/vsock', body: { guest_cid: GUEST_CID, uds_path: spec.agentSocketPath } });
  }
  calls.push({ method: 'PUT', path: '/actions', body: { action_type: 'InstanceStart' } });
  return calls;
}

/**
 * Oldest Firecracker banger suspends and restores with: `vsock_override` on
 * `/snapshot/load` (which lets a restored VM get the spec's agent socket) is
 * new in 1.16. Older ones still boot VMs cold (MIN_FIRECRACKER_VERSION).
 */
export const SNAPSHOT_MIN_FIRECRACKER_VERSION = '1.16.0';

/** The single interface banger gives every VM (a Firecracker resource id). */
export const NET_IFACE_ID = 'eth0';

/**
 * The requests that restore a VM from a saved state in a fresh Firecracker
 * (only the logger may precede `/snapshot/load`). The guest memory is the
 * `File` backend (mapped MAP_PRIVATE, read lazily), the vCPUs resume at once,
 * and the host ends of the devices are the spec's, whatever they were when
 * the snapshot was taken: the tap through `network_overrides`, the vsock UDS
 * through `vsock_override`. Disks are reopened at the paths in the snapshot:
 * those inside the VM directory relative to it (drivePathOnHost), so they are
 * the copies in the spec's directory, where the driver starts the process.
 * The guest clock is left as saved (`clock_realtime` needs host kernel ≥ 5.16
 * and kvm-clock): the agent sets it after a resume, as under QEMU.
 */
export function buildFirecrackerRestoreCalls(spec: VmSpec, stateFile: string): FirecrackerCall[] {
  const files = vmFiles(spec.vmDir);
  return [
    { method: 'PUT', path: '/logger', body: { log_path: files.firecrackerLog, level: 'Info', show_level: true, show_log_origin: false } },
    {
      method: 'PUT',
      path: '/snapshot/load',
      body: {
        snapshot_path: stateFile,
        mem_backend: { backend_type: 'File', backend_path: savedMemoryFile(stateFile) },
        resume_vm: true,
        ...(spec.net ? { network_overrides: [{ iface_id: NET_IFACE_ID, host_dev_name: spec.net.tap }] } : {}),
        ...(spec.agentSocketPath ? { vsock_override: { uds_path: spec.agentSocketPath } } : {}),
      },
    },
  ];
}

/** `PUT /snapshot/create` of a full snapshot: the VM state to `stateFile`, its memory to the companion file. */
export function buildSnapshotCreateCall(stateFile: string): FirecrackerCall {
  return { method: 'PUT', path: '/snapshot/create', body: { snapshot_type: 'Full', snapshot_path: stateFile, mem_file_path: savedMemoryFile(stateFile) } };
}

/** Firecracker's `--id` allows alphanumerics and `-` (not `_`, unlike resource ids). */
export const firecrackerInstanceId = (vmId: string): string => vmId.replaceAll('_', '-').slice(0, 64);

/** The firecracker argv (without the binary). */
export function buildFirecrackerArgs(spec: VmSpec): string[] {
  return ['--api-sock', vmFiles(spec.vmDir).firecrackerSocket, '--id', firecrackerInstanceId(spec.id)];
}
