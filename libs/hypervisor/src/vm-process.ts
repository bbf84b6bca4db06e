import { mkdirSync } from 'node:fs';
import { removeQuietly } from './cleanup-files.js';
import type { VmHandle, VmSpec, VmStatus } from './driver.js';
import { killHard, processAlive, settledStatus, signalAndWait, waitGone, watchProcess } from './process.js';
import { validateVmSpec } from './vm-spec.js';

/**
 * The lifecycle every VMM-process driver shares (one hypervisor process per
 * VM, identified by pid + start time): adopt-or-start with cleanup on
 * failure, and ask-then-signal stop. The drivers supply only what differs:
 * how the VMM is spawned and configured, and how the guest is asked to power off.
 */

/** What a driver does to bring one VMM process up. */
export interface StartSteps {
  /** Files the VMM binds itself and fails on when left over (API/QMP sockets, pid files); removed before spawning and after a failed start. */
  leftovers: ReadonlyArray<string | undefined>;
  /** Spawns the VMM process and returns its handle. */
  spawn(): Promise<VmHandle>;
  /** Waits for the VMM and configures it until the guest runs; a throw kills the process. */
  boot(handle: VmHandle): Promise<void>;
}

/**
 * Starts a VM, or returns `existing` untouched when that process is still
 * alive (the daemon re-adopting a VM after a restart). A failed or cancelled
 * boot kills the half-started VMM and removes its leftovers: it cannot be reused.
 */
export async function startVmProcess(spec: VmSpec, existing: VmHandle | undefined, steps: StartSteps): Promise<VmHandle> {
  if (existing && processAlive(existing.pid, existing.startTime)) return existing;
  validateVmSpec(spec);
  mkdirSync(spec.vmDir, { recursive: true, mode: 0o700 });
  removeQuietly(...steps.leftovers);
  const handle = await steps.spawn();
  try {
    await steps.boot(handle);
    return handle;
  } catch (error) {
    await killHard(handle.pid, handle.startTime);
    removeQuietly(...steps.leftovers);
    throw error;
  }
}

/** How a driver ends one VMM process. */
export interface StopSteps {
  /** Asks the guest to power off through the VMM (API, QMP); resolves false when the request could not be delivered. */
  requestPowerOff(): Promise<boolean>;
  /** How long a guest that was asked gets before signals. */
  graceMs: number;
  /** SIGTERM (5 s to react) before SIGKILL: QEMU flushes its disks on it, Firecracker has no handler. */
  sigtermFirst: boolean;
  /** Sockets and pid files to remove once the process is gone. */
  leftovers: ReadonlyArray<string | undefined>;
}

/**
 * Stops a VM: asks the guest, waits the grace period, then signals; removes
 * the leftovers and returns how the process ended. Idempotent: a VM already
 * stopped only gets its leftovers removed.
 */
export async function stopVmProcess(handle: VmHandle, steps: StopSteps): Promise<VmStatus> {
  if (processAlive(handle.pid, handle.startTime)) {
    // With no grace (`--force`, `vm run --rm`'s delete) asking the guest only costs a round trip to the VMM.
    const asked = steps.graceMs > 0 && (await steps.requestPowerOff());
    const gone = asked && (await waitGone(handle.pid, handle.startTime, steps.graceMs));
    if (!gone && !(steps.sigtermFirst && (await signalAndWait(handle.pid, handle.startTime, 'SIGTERM', 5_000)))) {
      await killHard(handle.pid, handle.startTime);
    }
  }
  removeQuietly(...steps.leftovers);
  return settledStatus(handle.pid, handle.startTime);
}

/** `status` and `watch` of the driver contract for drivers whose VM is exactly one host process. */
export abstract class VmProcessDriver {
  async status(handle: VmHandle): Promise<VmStatus> {
    return settledStatus(handle.pid, handle.startTime);
  }

  watch(handle: VmHandle, onExit: (status: VmStatus) => void): () => void {
    return watchProcess(handle.pid, handle.startTime, onExit);
  }
}
