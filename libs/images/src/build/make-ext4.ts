import { open, rm } from 'node:fs/promises';
import { mkfsExt4, run, runPrivileged, type ProgressSink } from '@banger/host';
import { InternalError } from '@banger/errors';

const MiB = 1024 * 1024;

export interface MakeExt4Options {
  tree: string;
  outFile: string;
  label: string;
  /** Free space to leave beyond what the tree needs. */
  headroomMiB: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Makes a sparse ext4 image of `tree` with `mkfs.ext4 -d` (no loop mount;
 * run privileged so it can read every root-owned file, and ownership in the
 * image is the tree's: root's). Sized from the tree's disk usage plus 10 %
 * for ext4 metadata, a journal allowance and the headroom; then checked with
 * `e2fsck -fn`. Returns the image size in bytes.
 */
export async function makeExt4FromTree(options: MakeExt4Options): Promise<number> {
  const { tree, outFile, signal } = options;
  const du = await runPrivileged('du', ['-s', '-x', '--block-size=1', tree], { signal });
  const used = Number.parseInt(du.stdout.trim().split(/\s+/)[0] ?? '', 10);
  if (!Number.isFinite(used) || used <= 0) throw new InternalError('IMAGE_SIZE_UNKNOWN', `du ${tree}: unexpected output "${du.stdout.trim()}"`);
  const sizeMiB = Math.ceil((used * 1.1) / MiB) + 64 + options.headroomMiB;
  const size = sizeMiB * MiB;

  // Created by this process so the image file stays owned by the caller even when mkfs runs through sudo.
  const handle = await open(outFile, 'w', 0o644);
  await handle.truncate(size);
  await handle.close();
  try {
    options.progress?.line?.(`mkfs.ext4 -d (${sizeMiB} MiB, ${Math.round(used / MiB)} MiB used)`);
    await mkfsExt4({
      tree,
      image: outFile,
      label: options.label,
      size: `${sizeMiB}M`,
      reservedPercent: 0,
      bytesPerInode: 8192,
      extended: ['lazy_itable_init=0', 'lazy_journal_init=0'],
      privileged: true,
      ...(signal ? { signal } : {}),
    });
    await checkExt4(outFile, signal);
  } catch (error) {
    await rm(outFile, { force: true });
    throw error;
  }
  return size;
}

/** `e2fsck -fn`: fails with the checker's last line when the filesystem is not clean. */
export async function checkExt4(file: string, signal?: AbortSignal): Promise<void> {
  await run('e2fsck', ['-f', '-n', file], { signal });
}
