import { lstat, readdir, rename, rm } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { InternalError, UserError } from '@banger/errors';
import { cleanStaleTemps, debugfsQuote, mkfsExt4, runDebugfs, tempSibling } from '@banger/host';

/** The filesystem label the image's fstab mounts at /root. */
export const WORK_DISK_LABEL = 'banger-work';

/**
 * Makes the ext4 work disk at `imagePath` (sparse, `sizeBytes` long) from the
 * staged tree: `mkfs.ext4 -q -d <staging> -L banger-work -E root_owner=0:0`.
 * mkfs -d copies each file's uid/gid from the staging tree; when the staging
 * files are not all root's (bangerd running unprivileged), their inodes are
 * then set to 0:0 with debugfs, which edits the image file without mounting
 * it or needing root. The filesystem root (the guest's /root) is set to 0700
 * the same way, since mkfs -d leaves it 0755. The image is built under a temp name and renamed into
 * place, and removed if anything fails.
 */
export async function makeWorkDisk(stagingDir: string, imagePath: string, sizeBytes: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1024 * 1024) {
    throw new UserError('WORK_DISK_TOO_SMALL', `work disk ${imagePath}: size ${sizeBytes} bytes is too small (minimum 1 MiB)`);
  }
  // `<image>.tmp-<pid>-<hex>`: what a killed process left is recognised (dead pid) and removed here.
  await cleanStaleTemps(imagePath);
  const temp = tempSibling(imagePath);
  try {
    await mkfsExt4({
      tree: stagingDir,
      image: temp,
      label: WORK_DISK_LABEL,
      size: `${Math.floor(sizeBytes / 1024)}k`,
      extended: ['root_owner=0:0'],
      ...(options.signal ? { signal: options.signal } : {}),
    }).catch((error: unknown) => {
      throw new InternalError('WORK_DISK_MKFS_FAILED', `work disk ${imagePath}: ${(error as Error).message}`, {
        hint: 'a file_sync entry may not fit: raise the VM disk size or sync less',
        cause: error,
      });
    });
    // mkfs -d gives the filesystem root 0755 whatever the staging dir's mode; /root must be 0700.
    const commands = ['sif / mode 040700'];
    for (const p of await nonRootPaths(stagingDir)) commands.push(`sif ${debugfsQuote(p)} uid 0`, `sif ${debugfsQuote(p)} gid 0`);
    await runDebugfs(temp, commands, { write: true, signal: options.signal });
    await rename(temp, imagePath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Image paths (`/…`) of staged entries whose owner or group is not root. */
async function nonRootPaths(stagingDir: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const stat = await lstat(full);
      if (stat.uid !== 0 || stat.gid !== 0) found.push(toImagePath(stagingDir, full));
      if (entry.isDirectory()) await visit(full);
    }
  };
  // The filesystem root needs no fix: root_owner=0:0 already owns it.
  await visit(stagingDir);
  return found;
}

const toImagePath = (root: string, full: string): string => posix.join('/', relative(root, full).split(sep).join('/'));
