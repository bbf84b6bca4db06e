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
 * The debugfs commands that put the host file `source` at `path` in an image,
 * root-owned with `mode`, replacing what is there (`rm` fails harmlessly when
 * nothing is; `write` refuses to overwrite) and making its directory.
 */
export function debugfsWriteCommands(source: string, path: string, mode: number): string[] {
  const target = debugfsQuote(path);
  return [
    `mkdir ${debugfsQuote(posix.dirname(path))}`,
    `rm ${target}`,
    `write ${debugfsQuote(source)} ${target}`,
    `sif ${target} mode 0${(0o100000 | mode).toString(8)}`,
    `sif ${target} uid 0`,
    `sif ${target} gid 0`,
  ];
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
      commands.push(...debugfsWriteCommands(local, file.path, file.mode ?? 0o644));
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
