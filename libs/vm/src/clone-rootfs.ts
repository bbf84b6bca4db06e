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
 * and lets resize2fs grow the file system into it (a full e2fsck first only
 * when resize2fs asks for one: see growFileSystem). Written to a temp name
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
      await growFileSystem(source, temp, signal);
    }
    await rename(temp, dest);
    return { method, sizeBytes: statSync(dest).size };
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * resize2fs on the copy. resize2fs itself refuses a file system that needs a
 * check first — one with errors, not cleanly unmounted, or mounted since its
 * last check — and says "Please run 'e2fsck -f …' first". Images banger makes
 * (mkfs.ext4 -d, OCI imports) were never mounted, so it does not ask, and the
 * full e2fsck of every clone (≈ 0.2–0.3 s under TCG load, on the way to QEMU's
 * start: issue 19) is run only when it does.
 */
async function growFileSystem(source: string, temp: string, signal: AbortSignal | undefined): Promise<void> {
  const first = await run('resize2fs', [temp], { signal, allowFailure: true });
  if (first.exitCode === 0) return;
  if (!/e2fsck -f/.test(first.stderr + first.stdout)) {
    throw new UserError('ROOTFS_RESIZE_FAILED', `resize2fs could not grow the copy of ${source}: ${lastLine(first.stderr || first.stdout)}`, {
      hint: `check the image with e2fsck -fn ${source}`,
    });
  }
  const check = await run('e2fsck', ['-f', '-p', temp], { signal, allowFailure: true });
  if (check.exitCode > 1) throw new UserError('ROOTFS_CORRUPT', `e2fsck found errors it could not fix in ${source}`);
  await run('resize2fs', [temp], { signal });
}

const lastLine = (text: string): string => text.trim().split('\n').filter(Boolean).at(-1) ?? 'no output';

const formatGiB = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
