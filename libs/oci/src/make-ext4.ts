import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { mkfsExt4, type ProgressSink } from '@banger/host';

/** How big a tree is, as ext4 will need it. */
export interface TreeUsage {
  /** Bytes of file data, each file rounded up to 4 KiB blocks. */
  blockBytes: number;
  /** Files, directories, links: each takes an inode. */
  inodes: number;
}

/** Walks a tree without following symlinks and counts what an ext4 copy of it needs. */
export async function measureTree(root: string): Promise<TreeUsage> {
  const usage: TreeUsage = { blockBytes: 0, inodes: 1 };
  const seen = new Set<string>(); // hard links count once
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const st = await lstat(path);
      if (st.nlink > 1 && !st.isDirectory()) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      usage.inodes++;
      if (st.isDirectory()) {
        usage.blockBytes += 4096;
        await walk(path);
      } else if (st.isFile() || st.isSymbolicLink()) {
        usage.blockBytes += Math.ceil(st.size / 4096) * 4096;
      }
    }
  };
  await walk(root);
  return usage;
}

/** Options of makeExt4FromTree. */
export interface MakeExt4Options {
  /** Filesystem label. Default `banger-root`. */
  label?: string;
  /** Free space to leave on top of the tree. Default: 25% of the tree, at least 256 MiB. */
  headroomBytes?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Builds an ext4 image of `tree` at `outPath` with `mkfs.ext4 -d`, sized from
 * the tree plus headroom (the filesystem's own overhead included), the
 * root directory owned by 0:0. Written to a temp file beside `outPath` and
 * renamed into place; the temp file is removed on failure. Returns the size
 * in bytes of the (sparse) image file.
 */
export async function makeExt4FromTree(tree: string, outPath: string, options: MakeExt4Options = {}): Promise<number> {
  const usage = await measureTree(tree);
  const headroom = options.headroomBytes ?? Math.max(256 * 1024 ** 2, Math.ceil(usage.blockBytes * 0.25));
  // journal (up to 64 MiB), inode tables (256 B each), group descriptors and reserved blocks: ~6% plus fixed
  const inodes = Math.max(16_384, Math.ceil(usage.inodes * 1.5));
  const raw = usage.blockBytes + headroom + inodes * 256 + 64 * 1024 ** 2;
  const mib = Math.ceil((raw * 1.06) / 1024 ** 2);
  const size = mib * 1024 ** 2;
  const temp = join(dirname(outPath), `.${basename(outPath)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(temp, '');
    await truncate(temp, size);
    options.progress?.line?.(`creating ext4 rootfs (${mib} MiB, ${usage.inodes} inodes)`);
    await mkfsExt4({
      tree,
      image: temp,
      label: options.label ?? 'banger-root',
      inodes,
      reservedPercent: 0,
      extended: ['root_owner=0:0'],
      privileged: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await rename(temp, outPath);
    return size;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
