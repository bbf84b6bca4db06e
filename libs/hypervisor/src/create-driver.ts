import { FirecrackerDriver } from './firecracker-driver.js';
import type { HypervisorDriver } from './driver.js';
import { QemuDriver } from './qemu-driver.js';
import type { HypervisorChoice } from './select.js';

/** The driver for a selectHypervisor() result. */
export function createDriver(choice: Pick<HypervisorChoice, 'kind' | 'accel' | 'binary'>): HypervisorDriver {
  return choice.kind === 'firecracker'
    ? new FirecrackerDriver({ binary: choice.binary })
    : new QemuDriver({ binary: choice.binary, accel: choice.accel });
}
