import { copyFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run, sha256File, tempSibling, writeJsonAtomic, type ProgressSink } from '@banger/host';
import type { CatalogEntry, CatalogIndex } from '../catalog/catalog-schema.js';
import { embeddedCatalog, parseIndex } from '../catalog/image-catalog.js';
import { withDirLock } from '../fs/dir-lock.js';
import { readManifest, ROOTFS_FILE } from '../manifest.js';

export interface PublishOptions {
  /** Catalog description; defaults to the existing entry's, then the embedded catalog's. */
  description?: string;
  /** zstd level (1–19); 6 keeps publishing a 3 GB image under a minute on 2 cores. */
  level?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Publishes an image dir into `publishDir` for any static web server:
 * `<name>-<version>.rootfs.ext4.zst`, `<name>-<version>.manifest.json`, and
 * index.json (the catalog format) created or updated with the entry, whose
 * URLs are relative to index.json. Every file is written to a temp name and
 * renamed; concurrent publishes into one dir serialise on a lock. Older
 * bundles are left in place (a client may be downloading one). Returns the
 * entry written.
 */
export async function publishImage(imageDir: string, publishDir: string, options: PublishOptions = {}): Promise<CatalogEntry> {
  const { signal, progress } = options;
  const manifest = await readManifest(imageDir);
  await mkdir(publishDir, { recursive: true });
  const base = `${manifest.name}-${manifest.version}`;
  const bundleName = `${base}.rootfs.ext4.zst`;
  const manifestName = `${base}.manifest.json`;

  const bundlePath = join(publishDir, bundleName);
  const tmp = tempSibling(bundlePath);
  try {
    progress?.line?.(`compressing ${ROOTFS_FILE} → ${bundleName}`);
    await run('zstd', ['-q', '-f', '-T0', `-${options.level ?? 6}`, '-o', tmp, join(imageDir, ROOTFS_FILE)], { signal });
    await rename(tmp, bundlePath);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const manifestTmp = tempSibling(join(publishDir, manifestName));
  await copyFile(join(imageDir, 'manifest.json'), manifestTmp);
  await rename(manifestTmp, join(publishDir, manifestName));

  const sha256 = await sha256File(bundlePath, signal);
  const size = (await stat(bundlePath)).size;
  return withDirLock(join(publishDir, '.index.lock'), async () => {
    const indexPath = join(publishDir, 'index.json');
    const index: CatalogIndex = await readFile(indexPath, 'utf8').then(
      (text) => parseIndex(text, indexPath),
      () => ({ version: 1 as const, images: [] }),
    );
    const previous = index.images.find((e) => e.name === manifest.name);
    const fromEmbedded = embeddedCatalog().images.find((e) => e.name === manifest.name);
    const recipe = manifest.source?.startsWith('recipe:') ? manifest.source.slice('recipe:'.length) : undefined;
    const entry: CatalogEntry = {
      name: manifest.name,
      description: options.description ?? previous?.description ?? fromEmbedded?.description ?? manifest.name,
      version: manifest.version,
      bundle: { url: bundleName, sha256, size, uncompressedSize: manifest.sizeBytes, manifestUrl: manifestName },
      ...(recipe ? { recipe } : {}),
      ...(manifest.recipeHash ? { recipeHash: manifest.recipeHash } : {}),
      defaultKernel: manifest.defaultKernel,
    };
    index.images = [...index.images.filter((e) => e.name !== manifest.name), entry].sort((a, b) => a.name.localeCompare(b.name));
    await writeJsonAtomic(indexPath, index);
    progress?.line?.(`published ${manifest.name} ${manifest.version} (${Math.round(size / 2 ** 20)} MiB) in ${indexPath}`);
    return entry;
  });
}
