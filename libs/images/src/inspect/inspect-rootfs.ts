import { stat } from 'node:fs/promises';
import { NotFoundError, UserError } from '@banger/errors';
import { run } from '@banger/host';
import { Ext4Reader } from './debugfs.js';

/** What `image register` needs to know about a rootfs file, read without mounting it. */
export interface RootfsReport {
  /** The file holds an ext2/3/4 filesystem (superblock magic 0xEF53). */
  ext4: boolean;
  /** /sbin/init resolves (through symlinks) to an executable file. */
  hasInit: boolean;
  /** /usr/sbin/sshd is present. */
  hasSshd: boolean;
  /** Logical size of the file. */
  sizeBytes: number;
}

/**
 * Inspects a rootfs image with `dumpe2fs -h` and `debugfs -R` (no mount).
 * Only a missing file throws; use `checkRootfs` to turn the report into
 * errors and warnings.
 */
export async function inspectRootfs(path: string): Promise<RootfsReport> {
  let sizeBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new UserError('ROOTFS_NOT_A_FILE', `rootfs ${path}: not a regular file`, { hint: 'pass an ext4 image file' });
    sizeBytes = info.size;
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new NotFoundError('ROOTFS_NOT_FOUND', `rootfs ${path}: no such file`, { hint: 'check the --rootfs path', cause: error });
  }
  const header = await run('dumpe2fs', ['-h', path], { allowFailure: true, env: { LC_ALL: 'C' } });
  const ext4 = header.exitCode === 0 && /Filesystem magic number:\s*0xEF53/i.test(header.stdout);
  if (!ext4) return { ext4: false, hasInit: false, hasSshd: false, sizeBytes };
  const reader = new Ext4Reader(path);
  const init = await reader.resolve('/sbin/init');
  const sshd = await reader.resolve('/usr/sbin/sshd');
  return {
    ext4,
    hasInit: init?.inode.type === 'regular' && (init.inode.mode & 0o111) !== 0,
    hasSshd: sshd?.inode.type === 'regular',
    sizeBytes,
  };
}

/**
 * The register-time verdict on a report: throws a UserError naming the file
 * when it is not ext4 or has no /sbin/init; returns warnings (no sshd: banger
 * cannot ssh into VMs made from it).
 */
export function checkRootfs(path: string, report: RootfsReport): string[] {
  if (!report.ext4) {
    throw new UserError('ROOTFS_NOT_EXT4', `rootfs ${path}: not an ext4 filesystem image`, {
      hint: 'pass an ext4 image (e.g. made with mkfs.ext4 -d <tree> <file> <size>)',
    });
  }
  if (!report.hasInit) {
    throw new UserError('ROOTFS_NO_INIT', `rootfs ${path}: has no /sbin/init, so the kernel has nothing to start`, {
      hint: 'install systemd-sysv (or another init) into the image',
    });
  }
  const warnings: string[] = [];
  if (!report.hasSshd) {
    warnings.push(`rootfs ${path} has no /usr/sbin/sshd: banger cannot ssh into VMs made from it (vm run/ssh will time out); install openssh-server in it`);
  }
  return warnings;
}
