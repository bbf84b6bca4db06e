import { isSuspendCapable, type HypervisorDriver, type VmHandle, type VmSpec as DriverSpec } from '@banger/hypervisor';
import { discardSavedState, savedState, whyNotResumable, type BootedWith } from './suspended-state.js';
import type { VmDir } from './vm-dir.js';

export interface StartOrResumeOptions {
  dir: VmDir;
  vmName: string;
  bootedWith: BootedWith;
  signal: AbortSignal;
  /** The VM's last process, when it may still run (adopted as it is, never resumed over). */
  existing?: VmHandle | undefined;
  /** Whether `existing` still runs; a saved state is only looked at when it does not. */
  existingAlive: boolean;
  /** One progress line (the step's report). */
  line: (text: string) => void;
}

/**
 * Starts the VM's hypervisor: from its saved state when it was suspended and
 * that state can be used, else cold. A saved state that cannot be used — it
 * does not match what the VM starts with now, or the hypervisor refuses it
 * (corrupt, missing memory file, another version) — never leaves a broken VM:
 * one warning line, then a cold boot. The state is used once and removed
 * either way. `resumed` says whether the guest continued where it was.
 */
export async function startOrResume(driver: HypervisorDriver, spec: DriverSpec, options: StartOrResumeOptions): Promise<{ handle: VmHandle; resumed: boolean }> {
  const { dir, vmName, bootedWith, signal, existing, line } = options;
  const saved = options.existingAlive ? undefined : savedState(dir);
  let handle: VmHandle | undefined;
  if (saved) {
    const why = isSuspendCapable(driver) ? whyNotResumable(saved.meta, bootedWith) : `${driver.kind} cannot resume a saved state`;
    if (!why) {
      const started = Date.now();
      try {
        handle = await driver.start(spec, { signal, restoreFrom: saved.path });
        line(`resumed from the saved state (${(saved.bytes / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        if (signal.aborted) throw error;
        line(`warning: could not resume vm ${vmName} from its saved state (${(error as Error).message.split('\n')[0]}); booting it cold`);
      }
    } else {
      line(`warning: not resuming vm ${vmName} from its saved state: ${why}; booting it cold`);
    }
    discardSavedState(dir);
  }
  if (handle) return { handle, resumed: true };
  handle = await driver.start(spec, { signal, ...(existing && existing.kind === driver.kind ? { existing } : {}) });
  return { handle, resumed: false };
}
