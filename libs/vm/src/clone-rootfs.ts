import { statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { UserError } from '@banger/errors';
import { run } from '@banger/host';

export interface CloneResult {
  method: 'reflink' | 'sparse-copy';
  sizeBytes: number;
}

/**
 * Makes a VM's own rootfs from an image's: a copy-on-write reflink where the
 * file system supports it, else a sparse copy (never a byte-for-byte copy of
 * a mostly empty image), then grows it to the VM's disk size (still sparse)
 * and lets resize2fs grow the file system into it. Written to a temp name
 * and renamed, so an interrupted clone leaves no half disk behind.
 */
export async function cloneRootfs(source: string, dest: string, sizeBytes: number, signal?: AbortSignal): Promise<CloneResult> {
  const imageSize = statSync(source).size;
  if (sizeBytes < imageSize) {
    throw new UserError('VM_DISK_TOO_SMALL', `disk size ${formatGiB(sizeBytes)} is smaller than the image (${formatGiB(imageSize)})`, {
      hint: `use --disk ${Math.ceil(imageSize / 2 ** 30)}G or more`,
    });
  }
  const temp = `${dest}.tmp-${process.pid}`;
  try {
    let method: CloneResult['method'] = 'reflink';
    const reflink = await run('cp', ['--reflink=always', source, temp], { signal, allowFailure: true });
    if (reflink.exitCode !== 0) {
      method = 'sparse-copy';
      await rm(temp, { force: true });
      await run('cp', ['--sparse=always', source, temp], { signal });
    }
    if (sizeBytes > imageSize) {
      await run('truncate', ['-s', String(sizeBytes), temp], { signal });
      // resize2fs insists on a recently checked file system.
      await run('e2fsck', ['-f', '-p', temp], { signal, allowFailure: true }).then((r) => {
        if (r.exitCode > 1) throw new UserError('ROOTFS_CORRUPT', `e2fsck found errors it could not fix in ${source}`);
      });
      await run('resize2fs', [temp], { signal });
    }
    await rename(temp, dest);
    return { method, sizeBytes: statSync(dest).size };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

const formatGiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
