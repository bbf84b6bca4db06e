import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConflictError } from '@banger/errors';
import { cleanStaleTemps, tempSibling } from './temp-sibling.js';

/**
 * Runs `fill(tmpDir)` on a fresh temp sibling of `destDir` and renames it to
 * `destDir` when it succeeds (replacing an existing `destDir` when `replace`
 * is set). On failure or abort the temp directory is removed, so `destDir` is
 * either complete or absent. Temp siblings left by a killed process (its pid
 * is gone) are removed first.
 */
export async function buildDirAtomically<T>(destDir: string, fill: (tmpDir: string) => Promise<T>, options: { replace?: boolean } = {}): Promise<T> {
  await cleanStaleTemps(destDir);
  await mkdir(dirname(destDir), { recursive: true });
  const tmp = tempSibling(destDir);
  await mkdir(tmp);
  try {
    const result = await fill(tmp);
    if (existsSync(destDir)) {
      if (!options.replace) throw new ConflictError('BUILD_DIR_APPEARED', `${destDir} appeared while it was being built`);
      // Aside first, so destDir is never missing for longer than two renames.
      const old = tempSibling(destDir);
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

/**
 * The same for one file: `fill(tmpPath)` writes a temp sibling of `dest`,
 * which is renamed to `dest` when it succeeds (replacing it) and removed when
 * it fails, so `dest` is either complete or as it was. Temp siblings left by a
 * killed process are removed first.
 */
export async function buildFileAtomically<T>(dest: string, fill: (tmpPath: string) => Promise<T>): Promise<T> {
  await cleanStaleTemps(dest);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempSibling(dest);
  try {
    const result = await fill(tmp);
    await rename(tmp, dest);
    return result;
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
