import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConflictError, InternalError, NotFoundError } from '@banger/errors';
import { cleanStaleTemps, sha256File, tempSibling, writeJsonAtomic, type DebianSource, type ProgressSink } from '@banger/host';
import { buildImage } from '../build/build-image.js';
import { removeTree } from '../build/remove-tree.js';
import type { CatalogEntry } from '../catalog/catalog-schema.js';
import { extractRootSkel } from '../fs/root-skel.js';
import { MANIFEST_FILE, parseManifest, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from '../manifest.js';
import { decompressRootfs } from './decompress-rootfs.js';
import { BundleUnreachableError, downloadBundle } from './download.js';

export interface PullImageOptions {
  /** The catalog entry (from imageCatalog/findImageEntry). */
  entry: CatalogEntry;
  /** The image dir to create; must not exist yet. */
  destDir: string;
  /** Download cache (partial files live here between attempts) and build cache. */
  cacheDir: string;
  /** Where a build from the recipe downloads packages (`debian_mirror`, `debian_keyring`). */
  debian?: DebianSource;
  /** Request headers for the bundle and manifest URLs (a registry's Authorization for an `oci://` entry). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Makes the image dir for a catalog entry: downloads its bundle (resumable,
 * sha256-checked), decompresses it into a sparse rootfs.ext4, extracts the
 * /root skeleton and writes manifest.json, all in `<destDir>.tmp-<pid>-*`
 * renamed into place at the end, so an interrupted pull (even kill -9) never
 * leaves a half image at destDir; its leftovers are cleaned by the next call.
 * When no bundle is listed or reachable and the entry has a recipe, the image
 * is built from the recipe instead, and progress says so. A bundle whose
 * sha256 does not match is an error, never a reason to fall back.
 */
export async function pullImage(options: PullImageOptions): Promise<ImageManifest> {
  const { entry, destDir, cacheDir, signal, progress } = options;
  await mkdir(dirname(destDir), { recursive: true });
  await cleanStaleTemps(destDir, removeTree);
  if (existsSync(destDir)) {
    throw new ConflictError('IMAGE_EXISTS', `image ${entry.name}: ${destDir} already exists`, { hint: `remove the image first (banger image rm ${entry.name})` });
  }

  if (entry.bundle) {
    try {
      const bundle = await downloadBundle({ ...entry.bundle, cacheDir: join(cacheDir, 'bundles'), ...(options.headers ? { headers: options.headers } : {}), signal, progress });
      const manifest = await installBundle(entry, bundle, destDir, signal, progress, options.headers);
      await rm(bundle, { force: true }); // the image dir now holds the data; keep the cache small
      return manifest;
    } catch (error) {
      if (!(error instanceof BundleUnreachableError) || !entry.recipe) throw error;
      progress?.line?.(`no bundle reachable at ${entry.bundle.url} (${error.message.replace(/^.*unreachable: /, '')}); building from recipe ${entry.recipe}`);
    }
  } else if (entry.recipe) {
    progress?.line?.(`the catalog lists no bundle for ${entry.name}; building from recipe ${entry.recipe}`);
  } else {
    throw new NotFoundError('IMAGE_NO_SOURCE', `image ${entry.name}: the catalog lists neither a bundle nor a recipe`, { hint: 'fix the catalog entry' });
  }
  const manifest = await buildImage({ recipeName: entry.recipe, outDir: destDir, cacheDir: join(cacheDir, 'build'), ...(options.debian ? { debian: options.debian } : {}), signal, progress });
  return manifest;
}

async function installBundle(entry: CatalogEntry, bundleFile: string, destDir: string, signal?: AbortSignal, progress?: ProgressSink, headers?: Record<string, string>): Promise<ImageManifest> {
  const bundle = entry.bundle!;
  const tmp = tempSibling(destDir);
  await mkdir(tmp);
  try {
    const rootfs = join(tmp, ROOTFS_FILE);
    progress?.line?.(`decompressing ${ROOTFS_FILE} (${Math.round(bundle.uncompressedSize / 2 ** 20)} MiB, sparse)`);
    // One pass: the rootfs is hashed while it is decompressed and written sparse, instead of
    // `zstd -d --sparse` followed by a second read of the whole 4 GiB file (docs/performance.md §5).
    // progress.bytes stays the download's (callers draw one bar per pull); decompression reports by line.
    const { sha256, size } = await decompressRootfs({ bundleFile, dest: rootfs, label: bundle.url, signal });
    if (size !== bundle.uncompressedSize) {
      throw new InternalError('BUNDLE_SIZE_MISMATCH', `bundle ${bundle.url}: decompresses to ${size} bytes, the catalog says ${bundle.uncompressedSize}`, {
        hint: 'republish the bundle',
      });
    }
    const published = bundle.manifestUrl ? await fetchManifest(bundle.manifestUrl, signal, headers) : undefined;
    if (published && published.files[ROOTFS_FILE]?.sha256 !== sha256) {
      throw new InternalError('BUNDLE_CHECKSUM_MISMATCH', `bundle ${bundle.url}: rootfs.ext4 sha256 is ${sha256}, its manifest says ${published.files[ROOTFS_FILE]?.sha256}`, {
        hint: 'republish the bundle and its manifest together',
      });
    }
    await extractRootSkel(rootfs, join(tmp, ROOT_SKEL_FILE), signal);
    const manifest: ImageManifest = {
      name: entry.name,
      version: published?.version ?? entry.version ?? sha256.slice(0, 12),
      ...((published?.recipeHash ?? entry.recipeHash) ? { recipeHash: published?.recipeHash ?? entry.recipeHash } : {}),
      sizeBytes: size,
      files: {
        [ROOTFS_FILE]: { sha256, size },
        [ROOT_SKEL_FILE]: { sha256: await sha256File(join(tmp, ROOT_SKEL_FILE)), size: (await stat(join(tmp, ROOT_SKEL_FILE))).size },
      },
      defaultKernel: published?.defaultKernel ?? entry.defaultKernel ?? 'debian-cloud',
      packages: published?.packages ?? [],
      builtAt: published?.builtAt ?? new Date().toISOString(),
      source: bundle.url,
    };
    await writeJsonAtomic(join(tmp, MANIFEST_FILE), manifest);
    await rename(tmp, destDir);
    progress?.line?.(`pulled image ${entry.name} ${manifest.version}`);
    return manifest;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

async function fetchManifest(url: string, signal?: AbortSignal, headers?: Record<string, string>): Promise<ImageManifest | undefined> {
  try {
    const text = url.startsWith('file:')
      ? await readFile(new URL(url), 'utf8')
      : await fetch(url, { signal, ...(headers ? { headers } : {}) }).then((r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`))));
    return parseManifest(text, url);
  } catch {
    return undefined; // optional: the bundle's own sha256 already vouches for the data
  }
}
