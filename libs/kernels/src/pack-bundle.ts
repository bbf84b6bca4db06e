import { rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { stat } from 'node:fs/promises';
import { run, sha256File, tempSibling } from '@banger/host';
import { BUNDLE_FILE_NAMES, readKernelBundle } from './bundle-manifest.js';

/** A packed bundle, ready to upload and list in a catalog entry's `bundle`. */
export interface PackedKernelBundle {
  file: string;
  sha256: string;
  size: number;
}

/**
 * Verifies the bundle at `dir` and packs it as a zstd-compressed tar
 * (`outFile`, conventionally `<name>-<version>.tar.zst`) holding the bundle's
 * files at the top level; writes `<outFile>.sha256` in sha256sum format too.
 */
export async function packKernelBundle(dir: string, outFile: string, options: { signal?: AbortSignal } = {}): Promise<PackedKernelBundle> {
  await readKernelBundle(dir, { verify: true });
  const tmp = tempSibling(outFile);
  try {
    await run('tar', ['--zstd', '--sparse', '--owner=0', '--group=0', '--numeric-owner', '-cf', tmp, '-C', dir, 'manifest.json', ...Object.values(BUNDLE_FILE_NAMES)], {
      signal: options.signal,
    });
    const sha256 = await sha256File(tmp);
    const { size } = await stat(tmp);
    await rename(tmp, outFile);
    await writeFile(`${outFile}.sha256`, `${sha256}  ${basename(outFile)}\n`);
    return { file: outFile, sha256, size };
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
