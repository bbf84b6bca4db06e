import { GiB, formatSize } from '@banger/config';
import type { CheckContext } from '../context.js';
import type { DoctorCheck } from '../types.js';

/** Below this the doctor warns: an image bundle plus a few VMs no longer fit comfortably. */
export const DISK_WARN_BYTES = 10 * GiB;
/** Below this the doctor fails: not even one image can be unpacked. */
export const DISK_FAIL_BYTES = 2 * GiB;

/** Free space where images, kernels and VM disks live (the state dir). */
export function diskCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'disk',
    title: 'free disk (state dir)',
    required: true,
    async run() {
      const { stateDir } = ctx.paths;
      const space = ctx.env.diskSpace(stateDir);
      if (!space) return { status: 'warn', detail: `cannot measure free space for ${stateDir}` };
      const detail = `${formatSize(space.freeBytes)} free of ${formatSize(space.totalBytes)} at ${space.probed === stateDir ? stateDir : `${space.probed} (for ${stateDir})`}`;
      const hint = 'free some space, or move the state dir to a bigger disk with XDG_STATE_HOME or BANGER_HOME';
      if (space.freeBytes < DISK_FAIL_BYTES) return { status: 'fail', detail: `${detail}; at least ${formatSize(DISK_FAIL_BYTES)} is needed`, hint };
      if (space.freeBytes < DISK_WARN_BYTES) return { status: 'warn', detail: `${detail}; below ${formatSize(DISK_WARN_BYTES)} images and VM disks will soon not fit`, hint };
      return { status: 'ok', detail };
    },
  };
}
