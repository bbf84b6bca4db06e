import { randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pidExists } from './pid-exists.js';

/**
 * A temp path beside `target` (same filesystem, so rename is atomic) that
 * records the owning pid: `<target>.tmp-<pid>-<random>`. cleanStaleTemps
 * uses the pid to remove only leftovers of dead processes.
 */
export function tempSibling(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

const removePath = (path: string): Promise<void> => rm(path, { recursive: true, force: true });

/**
 * Removes the `*.tmp-<pid>-<hex>` leftovers (files or dirs) of dead processes
 * in `target`'s directory: what a kill -9 mid-pull or mid-build leaves behind.
 * All of them, not only `target`'s, because a name on disk can change between
 * runs (the test image cache is keyed by recipe fingerprint) and a leftover
 * build tree may still hold mounts (`remove` can unmount first). Leftovers of
 * live processes (a concurrent build) are kept. Returns the removed paths.
 */
export async function cleanStaleTemps(target: string, remove: (path: string) => Promise<void> = removePath): Promise<string[]> {
  const dir = dirname(target);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = /\.tmp-(\d+)-[0-9a-f]{8}$/.exec(name);
    if (!match) continue;
    const pid = Number.parseInt(match[1]!, 10);
    if (pid > 0 && pidExists(pid)) continue;
    await remove(join(dir, name));
    removed.push(join(dir, name));
  }
  return removed;
}
