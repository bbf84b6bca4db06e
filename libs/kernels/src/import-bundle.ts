import { existsSync } from 'node:fs';
import { constants } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { ConflictError, UserError } from '@banger/errors';
import { buildDirAtomically, writeJsonAtomic } from '@banger/host';
import { BUNDLE_FILE_NAMES, KERNEL_NAME_PATTERN, kernelBundlePaths, readKernelBundle, type KernelManifest } from './bundle-manifest.js';

/**
 * Copies the bundle at `srcDir` into `destDir` (which must not exist),
 * verifying every sha256 before and after the copy; reflinks where the
 * filesystem allows. With `name`, the copy's manifest is renamed (the files
 * are unchanged). Returns the copy's manifest. `destDir` appears only complete.
 */
export async function importKernelBundle(srcDir: string, destDir: string, options: { name?: string } = {}): Promise<KernelManifest> {
  const source = await readKernelBundle(srcDir, { verify: true });
  if (options.name !== undefined && !KERNEL_NAME_PATTERN.test(options.name)) {
    throw new UserError('KERNEL_BAD_NAME', `invalid kernel name ${JSON.stringify(options.name)}: use lower-case letters, digits, '.', '_' and '-'`);
  }
  const manifest: KernelManifest = { ...source, name: options.name ?? source.name };
  if (existsSync(destDir)) {
    throw new ConflictError('KERNEL_EXISTS', `cannot import kernel ${manifest.name}: ${destDir} already exists`, {
      hint: `remove it first with banger kernel rm ${manifest.name}`,
    });
  }
  return buildDirAtomically(destDir, async (tmp) => {
    for (const fileName of ['manifest.json', ...Object.values(BUNDLE_FILE_NAMES)]) {
      await copyFile(join(srcDir, fileName), join(tmp, fileName), constants.COPYFILE_FICLONE);
    }
    const paths = kernelBundlePaths(tmp);
    if (manifest.name !== source.name) {
      const copied = JSON.parse(await readFile(paths.manifest, 'utf8')) as KernelManifest;
      await writeJsonAtomic(paths.manifest, { ...copied, name: manifest.name });
    }
    return readKernelBundle(paths.dir, { verify: true });
  });
}
