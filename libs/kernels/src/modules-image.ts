import { lstat, open, readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { debugfsQuote, mkfsExt4, run, runDebugfs } from '@banger/host';

/** The ext4 label the initrd and the VM layer look for. */
export const MODULES_LABEL = 'banger-modules';

/** Spare room left in the image beyond its content, in 4 KiB blocks (4 MiB). */
const HEADROOM_BLOCKS = 1024;

export interface BuildModulesImageOptions {
  signal?: AbortSignal;
  /**
   * Rewrite every inode to uid/gid 0 with debugfs. Needed when the tree was
   * unpacked by a non-root user (mkfs.ext4 -d copies owners); on by default
   * when this process is not root.
   */
  forceRootOwnership?: boolean;
}

/**
 * Makes `outFile`: an ext4 image labelled `banger-modules` whose top level is
 * the content of `modulesDir` (a `lib/modules` directory: `<kver>/kernel/…`,
 * `<kver>/modules.dep`…), owned by root, without a journal (it is mounted
 * read-only), sized to its content plus a few MiB.
 */
export async function buildModulesImage(modulesDir: string, outFile: string, options: BuildModulesImageOptions = {}): Promise<void> {
  const { signal } = options;
  const tree = await measureTree(modulesDir);
  // Data blocks are known exactly (sizes rounded to 4 KiB); metadata for a
  // journal-less fs with a tight inode count is a few MiB. The second,
  // generous attempt only runs if that estimate was ever too small.
  const attempts = [tree.bytes * 1.02 + HEADROOM_BLOCKS * 4096 * 2, tree.bytes * 1.25 + 64 * 1024 * 1024];
  for (const [i, bytes] of attempts.entries()) {
    await rm(outFile, { force: true });
    await (await open(outFile, 'w')).close();
    await truncate(outFile, Math.ceil(bytes / 4096) * 4096);
    const result = await mkfsExt4({
      tree: modulesDir,
      image: outFile,
      label: MODULES_LABEL,
      blockSize: 4096,
      reservedPercent: 0,
      features: ['^has_journal', '^resize_inode'],
      inodes: tree.entries + 256,
      extended: ['root_owner=0:0'],
      allowFailure: i < attempts.length - 1,
      ...(signal ? { signal } : {}),
    });
    if (result.exitCode === 0) break;
  }
  const forceRoot = options.forceRootOwnership ?? (typeof process.getuid === 'function' && process.getuid() !== 0);
  if (forceRoot) await chownAllToRoot(outFile, tree.paths, signal);
  await run('e2fsck', ['-f', '-p', outFile], { signal });
  // mkfs -d leaves an empty lost+found, which would show up as a bogus kernel version in /lib/modules.
  await runDebugfs(outFile, ['rmdir /lost+found'], { write: true, ...(signal ? { signal } : {}) });
}

interface TreeSize {
  bytes: number;
  entries: number;
  /** Every path below the root, relative, with a leading slash. */
  paths: string[];
}

async function measureTree(root: string): Promise<TreeSize> {
  const result: TreeSize = { bytes: 0, entries: 0, paths: [] };
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const full = join(dir, name);
      const info = await lstat(full);
      result.entries++;
      result.paths.push(`${rel}/${name}`);
      result.bytes += Math.ceil(info.size / 4096) * 4096;
      if (info.isDirectory()) await walk(full, `${rel}/${name}`);
    }
  };
  await walk(root, '');
  return result;
}

async function chownAllToRoot(image: string, paths: readonly string[], signal?: AbortSignal): Promise<void> {
  const commands = paths.flatMap((path) => [`sif ${debugfsQuote(path)} uid 0`, `sif ${debugfsQuote(path)} gid 0`]);
  await runDebugfs(image, commands, { write: true, ...(signal ? { signal } : {}) });
}
