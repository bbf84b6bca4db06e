import { WORK_DISK_UNIT_NAME } from '@banger/images';
import { readImageText, writeImageFiles } from './image-files.js';

/** How long the guest waits for the work disk before booting without /root (see below). */
export const WORK_DISK_DEVICE_TIMEOUT = '5min';

/**
 * Raises the device timeout of the work disk's fstab line
 * (`LABEL=banger-work /root … x-systemd.device-timeout=30s`) in a VM's rootfs
 * copy. Under QEMU TCG on a loaded host, udev can take longer than 30 s to
 * create /dev/disk/by-label/banger-work (measured: a boot where it did); the
 * line has `nofail`, so systemd then boots on *without* /root — sshd starts
 * but finds no authorized_keys and every login is refused, and the mount is
 * never retried. Waiting longer costs nothing when the disk is there.
 * Returns false (and changes nothing) when the image has no such line.
 */
export async function relaxWorkDiskTimeout(rootfs: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  const fstab = await readImageText(rootfs, '/etc/fstab');
  const patient = fstab === undefined ? undefined : relaxedFstab(fstab);
  if (patient === undefined) return false;
  await writeImageFiles(rootfs, [{ path: '/etc/fstab', content: patient }], options);
  return true;
}

/** `fstab` with the work disk's line given the long device timeout; undefined when it has no such line. */
export function relaxedFstab(fstab: string): string | undefined {
  let changed = false;
  const lines = fstab.split('\n').map((line) => {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== 'LABEL=banger-work' || fields.length < 4) return line;
    const opts = fields[3]!.split(',').filter((o) => !o.startsWith('x-systemd.device-timeout='));
    opts.push(`x-systemd.device-timeout=${WORK_DISK_DEVICE_TIMEOUT}`);
    fields[3] = opts.join(',');
    changed = true;
    return fields.join(' ');
  });
  return changed ? lines.join('\n') : undefined;
}

/**
 * Whether the rootfs mounts the work disk itself, without fstab: images built
 * since the lean boot (issue 19) carry `banger-work-disk.service`, which
 * mounts vdb on /root without waiting for udev.
 */
export async function hasWorkDiskUnit(rootfs: string): Promise<boolean> {
  return (await readImageText(rootfs, `/etc/systemd/system/${WORK_DISK_UNIT_NAME}`)) !== undefined;
}
