import { chmod, link, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { pidExists } from './pid-exists.js';
import { dirname, join, basename } from 'node:path';

/**
 * Writes `data` to `path` through a temp file in the same directory and a
 * rename, so readers see the old content or the new one, never half of it.
 * The parent directory is created (0700) when missing.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const temp = await writeTempSibling(path, data, mode);
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Like writeFileAtomic, but only when `path` does not exist yet: the whole
 * file is linked into place (link() refuses an existing name), so of several
 * writers racing to create it exactly one wins and the others see its file.
 * Resolves true when this call created it, false when it was already there.
 */
export async function writeFileExclusive(path: string, data: string | Buffer, mode = 0o600): Promise<boolean> {
  const temp = await writeTempSibling(path, data, mode);
  try {
    await link(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** `value` as JSON (2-space indent, final newline) written atomically; world-readable like the files around it (manifests, indexes). */
export const writeJsonAtomic = (path: string, value: unknown, mode = 0o644): Promise<void> => writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, mode);

/** Writes `data` whole into a new temp file beside `path` (its directory made 0700 when missing); returns its path. */
async function writeTempSibling(path: string, data: string | Buffer, mode: number): Promise<string> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await removeDeadWritersTemps(dir, basename(path));
  // Math.random, not crypto: the name only has to differ between this process's own concurrent writes ('wx' refuses a
  // clash), and importing node:crypto here cost every CLI start ≈ 20 ms (issue #19).
  const suffix = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  const temp = join(dir, `.${basename(path)}.${process.pid}.${suffix}.tmp`);
  try {
    await writeFile(temp, data, { mode, flag: 'wx' });
    // writeFile's mode is filtered by the umask; the caller asked for exactly this one.
    await chmod(temp, mode);
    return temp;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Removes the temps of `base` that a writer killed mid-write (kill -9, a
 * crash) left: named for a pid that no longer runs. Nothing else would ever
 * remove them, and a live writer's temp is left alone.
 */
async function removeDeadWritersTemps(dir: string, base: string): Promise<void> {
  const prefix = `.${base}.`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length))?.[1] ?? 0);
    if (pid > 0 && !pidExists(pid)) await rm(join(dir, name), { force: true });
  }
}
