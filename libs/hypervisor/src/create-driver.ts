import { FirecrackerDriver } from './firecracker-driver.js';
import type { HypervisorDriver } from './driver.js';
import { QemuDriver } from './qemu-driver.js';
import { SNAPSHOT_MIN_FIRECRACKER_VERSION } from './firecracker-calls.js';
import { versionAtLeast, type HypervisorChoice } from './select.js';

/** The driver for a selectHypervisor() result. */
export function createDriver(choice: Pick<HypervisorChoice, 'kind' | 'accel' | 'binary'>): HypervisorDriver {
  return choice.kind === 'firecracker'
    ? new FirecrackerDriver({ binary: choice.binary })
    : new QemuDriver({ binary: choice.binary, accel: choice.accel });
}

/**
 * Why VMs of this hypervisor cannot start from a saved state of another VM
 * (a warm template), or undefined when they can. QEMU loads any state whose
 * machine matches; Firecracker needs `vsock_override` on `/snapshot/load`
 * (1.16) to give each restored VM its own agent socket. An unknown version
 * counts as too old: the VM then boots cold rather than failing a restore.
 */
export function whyNoWarmStart(choice: Pick<HypervisorChoice, 'kind' | 'binary' | 'version'>): string | undefined {
  if (choice.kind === 'qemu') return undefined;
  if (choice.version && versionAtLeast(choice.version, SNAPSHOT_MIN_FIRECRACKER_VERSION)) return undefined;
  return `${choice.binary} is Firecracker ${choice.version ?? '(unknown version)'}; restoring a warm template needs ≥ ${SNAPSHOT_MIN_FIRECRACKER_VERSION}`;
}
