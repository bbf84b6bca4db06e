import { existsSync } from 'node:fs';
import { constants } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '@banger/errors';
import { buildDirAtomically } from './atomic-dir.js';
import { BUNDLE_FILE_NAMES, kernelBundlePaths, readKernelBundle, type KernelManifest } from './bundle-manifest.js';

/**
 * Copies the bundle at `srcDir` into `destDir` (which must not exist),
 * verifying every sha256 before and after the copy; reflinks where the
 * filesystem allows. Returns the manifest. `destDir` appears only complete.
 */
export async function importKernelBundle(srcDir: string, destDir: string): Promise<KernelManifest> {
  const manifest = await readKernelBundle(srcDir, { verify: true });
  if (existsSync(destDir)) {
    throw new ConflictError('KERNEL_EXISTS', `cannot import kernel ${manifest.name}: ${destDir} already exists`, {
      hint: `remove it first with banger kernel rm ${manifest.name}`,
    });
  }
  return buildDirAtomically(destDir, async (tmp) => {
    for (const fileName of ['manifest.json', ...Object.values(BUNDLE_FILE_NAMES)]) {
      await copyFile(join(srcDir, fileName), join(tmp, fileName), constants.COPYFILE_FICLONE);
    }
    await readKernelBundle(kernelBundlePaths(tmp).dir, { verify: true });
    return manifest;
  });
}
