import { createDriver, type HypervisorDriver } from '@banger/hypervisor';
import type { VmHypervisor } from './vm-record.js';

/**
 * The driver a VM was booted with (from its record), for status, watch and
 * stop. Its own module so the watcher can use it without importing vm-env,
 * which itself names the watcher's type.
 */
export const driverFor = (hypervisor: VmHypervisor): HypervisorDriver => createDriver(hypervisor);
