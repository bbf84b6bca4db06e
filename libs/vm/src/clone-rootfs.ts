import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '@banger/errors';
import { buildFileAtomically, run } from '@banger/host';
import { takeSpare, wantSpare } from './disk-spare.js';

export interface CloneResult {
  method: 'reflink' | 'sparse-copy' | 'spare';
  sizeBytes: number;
}

/**
 * Makes a VM's own rootfs from an image's: a copy-on-write reflink where the
 * file system supports it, else a sparse copy (never a byte-for-byte copy of
 * a mostly empty image), grown to the VM's disk size (still sparse) with the
 * file system grown into it by resize2fs (a full e2fsck first only when
 * resize2fs asks for one: see growFileSystem). With `basesDir`, the grown
 * copy is made once per image file and disk size and kept there
 * (`grownBase`), and each VM's rootfs is a copy of it: resize2fs reads and
 * writes the whole file system's metadata (≈ 0.3 s here) and sat between the
 * clone and QEMU's start on every create (issue 19). With `sparesDir` too, a
 * spare copy of that base made ahead is taken when there is one
 * (disk-spare.ts). Written to a temp name
 * and renamed, so an interrupted clone leaves no half disk behind.
 */
export async function cloneRootfs(source: string, dest: string, sizeBytes: number, signal?: AbortSignal, options: { basesDir?: string; sparesDir?: string } = {}): Promise<CloneResult> {
  const imageSize = statSync(source).size;
  if (sizeBytes < imageSize) {
    throw new UserError('VM_DISK_TOO_SMALL', `disk size ${formatGiB(sizeBytes)} is smaller than the image (${formatGiB(imageSize)})`, {
      hint: `use --disk ${Math.ceil(imageSize / 2 ** 30)}G or more`,
    });
  }
  const grow = sizeBytes > imageSize;
  const from = grow && options.basesDir ? await grownBase(source, sizeBytes, options.basesDir, signal) : source;
  const temp = `${dest}.tmp-${process.pid}`;
  try {
    // A spare copy of the base made ahead (disk-spare.ts) is taken with a rename; the next one is made after this VM's graph.
    const spare = from !== source && options.sparesDir !== undefined;
    if (spare) wantSpare(options.sparesDir!, from);
    const method = spare && (await takeSpare(options.sparesDir!, from, temp)) ? 'spare' : await copySparse(from, temp, signal);
    if (grow && from === source) {
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

/** Pairs of devices (source's, destination directory's) between which a reflink failed: not tried again by this process. */
const noReflink = new Set<string>();

/**
 * A reflink of `from` where the file system can, else a sparse copy. A failed
 * reflink is remembered per pair of devices: on ext4 it always fails, and the
 * attempt was one more process start before every clone (issue 19).
 */
export async function copySparse(from: string, to: string, signal: AbortSignal | undefined): Promise<CloneResult['method']> {
  const devices = `${statSync(from).dev}:${statSync(dirname(to)).dev}`;
  if (!noReflink.has(devices)) {
    const reflink = await run('cp', ['--reflink=always', from, to], { signal, allowFailure: true });
    if (reflink.exitCode === 0) return 'reflink';
    await rm(to, { force: true });
    noReflink.add(devices);
  }
  await run('cp', ['--sparse=always', from, to], { signal });
  return 'sparse-copy';
}

/**
 * The image's rootfs grown to `sizeBytes`, made once and kept in `dir` as
 * `<source id>-<inode>-<mtime>-<size>-<disk size>.ext4` (the source id is a
 * hash of its path, recorded in `<source id>.source`): a re-pulled or rebuilt
 * image is a new file (inode, mtime), so its bases are made anew. Making one
 * removes the bases of that image's older files and of images whose file is
 * gone (removed images). Derived data: deleting the directory is always safe.
 */
export async function grownBase(source: string, sizeBytes: number, dir: string, signal?: AbortSignal): Promise<string> {
  const info = statSync(source);
  const id = createHash('sha256').update(resolve(source)).digest('hex').slice(0, 16);
  const key = `${id}-${info.ino}-${Math.round(info.mtimeMs)}-${info.size}`;
  const path = join(dir, `${key}-${sizeBytes}.ext4`);
  if (existsSync(path)) return path;
  await mkdir(dir, { recursive: true });
  await pruneBases(dir, id, key);
  await writeFile(join(dir, `${id}.source`), `${resolve(source)}\n`);
  await buildFileAtomically(path, async (temp) => {
    await copySparse(source, temp, signal);
    await run('truncate', ['-s', String(sizeBytes), temp], { signal });
    await growFileSystem(source, temp, signal);
  });
  return path;
}

/** Removes the bases of `id` not made from its current file (`key`), and those of images whose file is gone. */
async function pruneBases(dir: string, id: string, key: string): Promise<void> {
  const names = await readdir(dir);
  const gone = new Set<string>();
  for (const name of names.filter((n) => n.endsWith('.source'))) {
    const recorded = (await readFile(join(dir, name), 'utf8').catch(() => '')).trim();
    if (!recorded || !existsSync(recorded)) gone.add(name.slice(0, -'.source'.length));
  }
  for (const name of names) {
    const owner = name.slice(0, 16);
    const stale = (owner === id && name.endsWith('.ext4') && !name.startsWith(`${key}-`)) || (gone.has(owner) && owner !== id);
    if (stale) await rm(join(dir, name), { force: true });
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
