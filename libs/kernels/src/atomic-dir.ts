import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CancelledError, ConflictError } from '@banger/errors';
import { pidExists } from '@banger/host';

const TMP_MARK = '.tmp-';

/**
 * Runs `fill(tmpDir)` on a fresh `<destDir>.tmp-<pid>-<random>` directory and
 * renames it to `destDir` when it succeeds (replacing an existing `destDir`
 * when `replace` is set). On failure or abort the temp directory is removed,
 * so `destDir` is either complete or absent. Temp directories left by a
 * killed process (its pid is gone) are removed first.
 */
export async function buildDirAtomically<T>(
  destDir: string,
  fill: (tmpDir: string) => Promise<T>,
  options: { replace?: boolean } = {},
): Promise<T> {
  await cleanStaleTmpDirs(destDir);
  await mkdir(dirname(destDir), { recursive: true });
  const tmp = `${destDir}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    const result = await fill(tmp);
    if (existsSync(destDir)) {
      if (!options.replace) throw new ConflictError('BUILD_DIR_APPEARED', `${destDir} appeared while it was being built`);
      const old = `${destDir}${TMP_MARK}${process.pid}-old-${randomBytes(4).toString('hex')}`;
      await rename(destDir, old);
      await rename(tmp, destDir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, destDir);
    }
    return result;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

/** Removes `<destDir>.tmp-<pid>-*` siblings whose process no longer runs. */
export async function cleanStaleTmpDirs(destDir: string): Promise<void> {
  const parent = dirname(destDir);
  const prefix = `${basename(destDir)}${TMP_MARK}`;
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number.parseInt(name.slice(prefix.length), 10);
    if (Number.isInteger(pid) && pid > 0 && pidExists(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

/** Throws CancelledError when `signal` is aborted; called between long steps. */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what}: cancelled`);
}

