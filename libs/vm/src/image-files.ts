import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { InternalError } from '@banger/errors';
import { debugfsQuote, readImageFile, runDebugfs } from '@banger/disks';

/** One root-owned file to place in an unmounted ext4 image. */
export interface ImageFile {
  /** Absolute path in the image; its parent directory must exist. */
  path: string;
  content: string;
  /** Permission bits, default 0o644. */
  mode?: number;
}

/**
 * Writes root-owned files into an unmounted ext4 image with `debugfs -w`
 * (no mount, no root needed), replacing existing ones, then reads each back:
 * debugfs exits 0 even when a command fails.
 */
export async function writeImageFiles(image: string, files: readonly ImageFile[], options: { signal?: AbortSignal } = {}): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-image-files-'));
  try {
    const commands: string[] = [];
    for (const [index, file] of files.entries()) {
      const local = join(dir, String(index));
      await writeFile(local, file.content);
      const target = debugfsQuote(file.path);
      commands.push(
        `mkdir ${debugfsQuote(posix.dirname(file.path))}`,
        `rm ${target}`,
        `write ${debugfsQuote(local)} ${target}`,
        `sif ${target} mode 0${(0o100000 | (file.mode ?? 0o644)).toString(8)}`,
        `sif ${target} uid 0`,
        `sif ${target} gid 0`,
      );
    }
    await runDebugfs(image, commands, { write: true, ...(options.signal ? { signal: options.signal } : {}) });
    for (const file of files) {
      const actual = await readImageFile(image, file.path).then((b) => b.toString('utf8'), () => undefined);
      if (actual !== file.content) {
        throw new InternalError('VM_IMAGE_WRITE_FAILED', `write ${file.path} into ${image}: the file read back differs`, {
          hint: 'check that the disk is ext4, not mounted, and has free space (e2fsck -fn <file>)',
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A file's content in the image, or undefined when it is missing. */
export const readImageText = (image: string, path: string): Promise<string | undefined> =>
  readImageFile(image, path).then((b) => b.toString('utf8'), () => undefined);
