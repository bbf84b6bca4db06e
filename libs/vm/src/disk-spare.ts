import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { buildFileAtomically, findExecutable, run } from '@banger/host';
import type { StepLogger } from '@banger/taskgraph';

/**
 * Spare disk copies: for each file VMs' disks were copied from lately — a
 * grown rootfs base (cold boots), a warm template's root and work disks —
 * one copy of it made ahead, while nothing waits (after a VM's graph has
 * succeeded, at the lowest CPU and I/O priority), so the next VM of that
 * image and size takes it with a rename instead of copying (≈ 0.2–0.5 s of
 * I/O here, on the way to QEMU's start: issue 19). A spare is byte for byte a
 * copy of its base and never written before it is taken; the VM's own files
 * (host key, identity) go in after. Kept in the state dir (`<state>/disk-spares/`)
 * so the take is a rename on the same file system as the VM directories.
 * Derived data: deleting the directory is always safe.
 */

/** Spares kept, the made-last first: a cold base, a warm template's root and work disks of the images in use. */
const KEEP = 4;

/** Bases a VM was made from since the last refill, by spare path. */
const wanted = new Map<string, { base: string; dir: string }>();
let refilling: Promise<void> | undefined;
/** What a refill waits for before each copy (the daemon: no request in flight for a moment); none in tests. */
let gate: ((signal: AbortSignal) => Promise<void>) | undefined;

/**
 * Sets what each spare copy waits for first. The daemon passes "no request in
 * flight for 0.5 s (at most 60 s)": the copy then does not run beside the
 * command `vm run` sends right after its graph, nor beside a `vm exec`.
 */
export function setSpareGate(wait: ((signal: AbortSignal) => Promise<void>) | undefined): void {
  gate = wait;
}
let stopping = new AbortController();

/**
 * A spare's name says which file it copies: a hash of the base's path, then
 * its inode, mtime and size — a base made anew (a re-pulled image, a rebuilt
 * template) is another file, so its old spare is never taken for it.
 */
function spareOf(dir: string, base: string): string {
  const info = statSync(base, { throwIfNoEntry: false });
  const id = createHash('sha256').update(resolve(base)).digest('hex').slice(0, 16);
  return join(dir, info ? `${id}-${info.ino}-${Math.round(info.mtimeMs)}-${info.size}.ext4` : `${id}-gone.ext4`);
}

/** Whether `spare` (a file name in the spares dir) still copies the current `base` file. */
function stillCopies(spare: string, base: string | undefined): boolean {
  return base !== undefined && existsSync(base) && basename(spareOf(dirname(spare), base)) === basename(spare);
}

/**
 * Moves the spare of `base` to `dest` when there is one; false when there is
 * none (or it cannot be moved there: then the caller copies the base).
 */
export async function takeSpare(dir: string, base: string, dest: string): Promise<boolean> {
  try {
    await rename(spareOf(dir, base), dest);
    return true;
  } catch {
    // ENOENT: none ready (or another creation took it first); EXDEV: another file system.
    return false;
  }
}

/** Notes that a VM was just made from `base`: the next refill makes its spare. */
export function wantSpare(dir: string, base: string): void {
  const spare = spareOf(dir, base);
  wanted.delete(spare);
  wanted.set(spare, { base, dir });
}

/**
 * Makes the wanted spares that are missing, one at a time, in the background
 * (`nice -n 19 ionice -c 3 cp --sparse=always`); a failure is logged and
 * forgotten (the next VM copies the base itself). Call when a VM's graph has
 * ended, so the copy does not compete with a boot on the way to ready.
 */
export function refillSpares(log: Pick<StepLogger, 'warn'>): void {
  if (refilling || wanted.size === 0) return;
  const signal = stopping.signal;
  refilling = (async () => {
    while (wanted.size > 0 && !signal.aborted) {
      const [spare, { base, dir }] = [...wanted][0]!;
      wanted.delete(spare);
      try {
        await gate?.(signal);
        if (signal.aborted) break;
        await makeSpare(base, spare, signal);
        await pruneSpares(dir);
      } catch (error) {
        if (!signal.aborted) log.warn({ base, err: error }, 'could not make a spare disk copy; the next vm copies the base itself');
      }
    }
  })().finally(() => {
    refilling = undefined;
  });
}

/** Stops a refill in progress and waits for it (daemon shutdown); its temp file is removed, or by the next refill after a kill. */
export async function sparesStopped(): Promise<void> {
  stopping.abort();
  await refilling;
  stopping = new AbortController();
}

/** Resolves when no refill is running (tests, benchmarks). */
export async function sparesSettled(): Promise<void> {
  while (refilling) await refilling;
}

async function makeSpare(base: string, spare: string, signal: AbortSignal): Promise<void> {
  if (existsSync(spare) || !existsSync(base)) return;
  await mkdir(dirname(spare), { recursive: true });
  // Which file it copies, for pruning once that file is gone or made anew.
  await writeFile(sourceNote(spare), `${resolve(base)}\n`);
  const low = [...(findExecutable('nice') ? ['nice', '-n', '19'] : []), ...(findExecutable('ionice') ? ['ionice', '-c', '3'] : [])];
  await buildFileAtomically(spare, async (temp) => {
    const argv = [...low, 'cp', '--sparse=always', base, temp];
    await run(argv[0]!, argv.slice(1), { signal });
  });
}

const sourceNote = (spare: string): string => spare.replace(/\.ext4$/, '.source');

/** Removes spares whose base is gone or made anew (a re-pulled image, a rebuilt template), then all but the KEEP made last. */
async function pruneSpares(dir: string): Promise<void> {
  const dated: Array<{ name: string; mtime: number }> = [];
  const names = await readdir(dir);
  for (const name of names.filter((n) => n.endsWith('.ext4'))) {
    const spare = join(dir, name);
    const base = (await readFile(sourceNote(spare), 'utf8').catch(() => '')).trim() || undefined;
    if (!stillCopies(spare, base)) await rm(spare, { force: true });
    else dated.push({ name, mtime: (await stat(spare)).mtimeMs });
  }
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(KEEP)) await rm(join(dir, name), { force: true });
  // Notes whose spare is gone (taken, pruned) go too.
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.source'))) {
    if (!existsSync(join(dir, name.replace(/\.source$/, '.ext4'))) && !wantedNote(join(dir, name))) await rm(join(dir, name), { force: true });
  }
}

/** Whether a refill is about to make the spare this note belongs to. */
const wantedNote = (note: string): boolean => wanted.has(note.replace(/\.source$/, '.ext4'));
