import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildFileAtomically } from '@banger/host';
import { copySparse } from './clone-rootfs.js';

/**
 * What a work disk without `[[file_sync]]` entries holds is fixed by three
 * things: the image's /root skeleton, banger's public key and the disk size.
 * Bump this when stageWorkDisk or makeWorkDisk change what goes on the disk
 * (or how), so bases made by an older banger are not reused.
 */
const WORK_BASE_FORMAT = 1;
/** Bases kept (the most recently used): one per image and disk size in use, a few MiB each. */
const KEEP = 4;

export interface WorkDiskBaseInputs {
  /** The image's /root skeleton archive, when it has one. */
  skeleton: string | undefined;
  /** The authorized_keys text banger puts on the disk. */
  authorizedKey: string;
  sizeBytes: number;
}

/** The base's file name for these inputs: a re-made skeleton (a re-pulled image) is a new file (inode, mtime), so a new base. */
export function workDiskBaseName(inputs: WorkDiskBaseInputs): string {
  const skeleton = inputs.skeleton ? (({ ino, mtimeMs, size }) => ({ path: resolve(inputs.skeleton!), ino, mtime: Math.round(mtimeMs), size }))(statSync(inputs.skeleton)) : null;
  const digest = createHash('sha256').update(JSON.stringify({ format: WORK_BASE_FORMAT, skeleton, key: inputs.authorizedKey, size: inputs.sizeBytes })).digest('hex');
  return `${digest.slice(0, 24)}.ext4`;
}

/**
 * Puts a work disk at `dest` from the base for `inputs` in `dir`, building
 * the base first (with `build`, into a temp name renamed into place) when
 * there is none. A copy of the base is one sparse `cp`; building one is a
 * tar, a mkfs and a debugfs — process starts that sat beside the rootfs
 * clone, on the way to QEMU's start, on every create (issue 19). Derived
 * data: deleting the directory is always safe. Returns whether the base was
 * there already.
 */
export async function workDiskFromBase(dir: string, inputs: WorkDiskBaseInputs, dest: string, build: (path: string) => Promise<void>, signal?: AbortSignal): Promise<'copied' | 'built'> {
  const base = join(dir, workDiskBaseName(inputs));
  const found = existsSync(base);
  if (!found) {
    await buildFileAtomically(base, build);
    await pruneBases(dir);
  } else {
    // Its mtime says when it was last used: pruning keeps the recent ones.
    const now = new Date();
    await utimes(base, now, now).catch(() => undefined);
  }
  await buildFileAtomically(dest, (temp) => copySparse(base, temp, signal));
  return found ? 'copied' : 'built';
}

/** Keeps the KEEP most recently used bases. */
async function pruneBases(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => /^[0-9a-f]{24}\.ext4$/.test(n));
  if (names.length <= KEEP) return;
  const dated = await Promise.all(names.map(async (name) => ({ name, mtime: (await stat(join(dir, name))).mtimeMs })));
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(KEEP)) await rm(join(dir, name), { force: true });
}
