import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '@banger/errors';
import type { ProgressSink } from '@banger/host';
import { findImageEntry, imageCatalog, MANIFEST_FILE, pullImage, readManifest, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from '@banger/images';
import { findCatalogEntry, kernelBundlePaths, kernelCatalog, pullKernelBundle, readKernelBundle, type KernelBundlePaths, type KernelManifest } from '@banger/kernels';
import type { Database } from '@banger/store';

/** Where kernels and images live and where their catalogs are. */
export interface ResourcePaths {
  kernelsDir: string;
  imagesDir: string;
  cacheDir: string;
  /** config `catalog_url` / `kernel_catalog_url`. */
  catalogUrl?: string;
  kernelCatalogUrl?: string;
}

/** A kernel a VM can boot: its record and bundle paths. */
export interface KernelRef {
  name: string;
  version: string;
  paths: KernelBundlePaths;
}

/** An image a VM can be created from. */
export interface ImageRef {
  name: string;
  dir: string;
  rootfs: string;
  /** Logical size of rootfs.ext4. */
  sizeBytes: number;
  sha256: string;
  /** The image's /root skeleton tar, when it has one. */
  rootSkel?: string;
  /** The kernel the image names as its default. */
  defaultKernel?: string;
}

interface KernelRow { name: string; version: string; dir: string }
interface ImageRow { name: string; dir: string; rootfs_path: string; size_bytes: number; sha256: string; kernel_name: string | null }

/** The registered kernel `name` whose bundle is intact, or undefined. Read-only. */
export async function findKernel(db: Database, name: string): Promise<KernelRef | undefined> {
  const row = db.prepare('SELECT name, version, dir FROM kernels WHERE name = ?').get(name) as KernelRow | undefined;
  if (!row) return undefined;
  const manifest = await readKernelBundle(row.dir).catch(() => undefined);
  return manifest ? { name, version: manifest.version, paths: kernelBundlePaths(row.dir) } : undefined;
}

/** The registered image `name` whose rootfs exists, or undefined. Read-only. */
export function findImage(db: Database, name: string): ImageRef | undefined {
  const row = db.prepare('SELECT name, dir, rootfs_path, size_bytes, sha256, kernel_name FROM images WHERE name = ?').get(name) as ImageRow | undefined;
  if (!row || !existsSync(row.rootfs_path)) return undefined;
  const skel = join(row.dir, ROOT_SKEL_FILE);
  return {
    name,
    dir: row.dir,
    rootfs: row.rootfs_path,
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    ...(existsSync(skel) ? { rootSkel: skel } : {}),
    ...(row.kernel_name ? { defaultKernel: row.kernel_name } : {}),
  };
}

/**
 * Whether `vm create --image name` can work, checked before anything is
 * created: a registered image, an unregistered but complete image directory,
 * or a catalog entry (pulled on demand). Otherwise a NotFoundError naming it
 * and listing what is available.
 */
export async function assertImageKnown(db: Database, paths: ResourcePaths, name: string, signal?: AbortSignal): Promise<void> {
  if (findImage(db, name) || imageDirComplete(join(paths.imagesDir, name))) return;
  const catalog = await imageCatalog({ ...(paths.catalogUrl ? { catalogUrl: paths.catalogUrl } : {}), ...(signal ? { signal } : {}) });
  if (catalog.entries.some((e) => e.name === name)) return;
  const local = (db.prepare('SELECT name FROM images ORDER BY name').pluck().all() as string[]);
  throw new NotFoundError('VM_IMAGE_UNKNOWN', `image ${name} is neither registered nor in the catalog (registered: ${local.join(', ') || 'none'}; catalog: ${catalog.entries.map((e) => e.name).join(', ')})`, {
    hint: 'see banger image list and banger image catalog',
  });
}

/** Same as assertImageKnown, for kernels. */
export async function assertKernelKnown(db: Database, paths: ResourcePaths, name: string, signal?: AbortSignal): Promise<void> {
  if ((await findKernel(db, name)) || existsSync(join(paths.kernelsDir, name, 'manifest.json'))) return;
  const entries = await kernelCatalog(paths.kernelCatalogUrl, signal);
  if (entries.some((e) => e.name === name)) return;
  const local = (db.prepare('SELECT name FROM kernels ORDER BY name').pluck().all() as string[]);
  throw new NotFoundError('VM_KERNEL_UNKNOWN', `kernel ${name} is neither registered nor in the catalog (registered: ${local.join(', ') || 'none'}; catalog: ${entries.map((e) => e.name).join(', ')})`, {
    hint: 'see banger kernel list and banger kernel catalog',
  });
}

/**
 * The kernel `name`, pulled on demand: the registered one when its bundle is
 * intact; else a complete bundle already in `<kernelsDir>/<name>` (left by a
 * pull killed before it registered, or copied there) is adopted; else it is
 * pulled from the kernel catalog. Registers it in the `kernels` table.
 */
export async function ensureKernel(db: Database, paths: ResourcePaths, name: string, options: { signal?: AbortSignal; progress?: ProgressSink } = {}): Promise<KernelRef> {
  const found = await findKernel(db, name);
  if (found) return found;
  const dir = join(paths.kernelsDir, name);
  let manifest = await readKernelBundle(dir).catch(() => undefined);
  if (manifest) options.progress?.line?.(`adopting the kernel bundle in ${dir}`);
  else {
    const entry = findCatalogEntry(name, await kernelCatalog(paths.kernelCatalogUrl, options.signal));
    options.progress?.line?.(`pulling kernel ${name}`);
    manifest = (await pullKernelBundle({ entry, destDir: dir, cacheDir: join(paths.cacheDir, 'kernels'), ...options })).manifest;
  }
  registerKernel(db, name, dir, manifest);
  return { name, version: manifest.version, paths: kernelBundlePaths(dir) };
}

/**
 * The image `name`, pulled on demand: the registered one when its rootfs
 * exists; else a complete image directory in `<imagesDir>/<name>` is
 * adopted; else the catalog entry is pulled (or built from its recipe).
 * Registers it in the `images` table.
 */
export async function ensureImage(db: Database, paths: ResourcePaths, name: string, options: { signal?: AbortSignal; progress?: ProgressSink } = {}): Promise<ImageRef> {
  const found = findImage(db, name);
  if (found) return found;
  const dir = join(paths.imagesDir, name);
  let manifest: ImageManifest;
  if (imageDirComplete(dir)) {
    options.progress?.line?.(`adopting the image in ${dir}`);
    manifest = await readManifest(dir);
  } else {
    const catalog = await imageCatalog({ ...(paths.catalogUrl ? { catalogUrl: paths.catalogUrl } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    const entry = findImageEntry(catalog, name);
    options.progress?.line?.(`pulling image ${name}`);
    manifest = await pullImage({ entry, destDir: dir, cacheDir: join(paths.cacheDir, 'images'), ...options });
  }
  registerImage(db, name, dir, manifest);
  const ref = findImage(db, name);
  if (!ref) throw new NotFoundError('VM_IMAGE_MISSING', `image ${name}: ${join(dir, ROOTFS_FILE)} is missing after the pull`);
  return ref;
}

function imageDirComplete(dir: string): boolean {
  return existsSync(join(dir, MANIFEST_FILE)) && existsSync(join(dir, ROOTFS_FILE));
}

function registerKernel(db: Database, name: string, dir: string, manifest: KernelManifest): void {
  db.prepare(
    `INSERT INTO kernels (name, version, dir, manifest, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, manifest = excluded.manifest`,
  ).run(name, manifest.version, dir, JSON.stringify(manifest), Date.now());
}

function registerImage(db: Database, name: string, dir: string, manifest: ImageManifest): void {
  const rootfs = manifest.files[ROOTFS_FILE]!;
  db.prepare(
    `INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, kernel_name, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, rootfs_path = excluded.rootfs_path,
       size_bytes = excluded.size_bytes, sha256 = excluded.sha256, kernel_name = excluded.kernel_name, source = excluded.source`,
  ).run(name, manifest.version, dir, join(dir, ROOTFS_FILE), manifest.sizeBytes, rootfs.sha256, manifest.defaultKernel, JSON.stringify(imageSource(manifest)), Date.now());
}

/** The `source` column as the image service writes it (apps/daemon/src/services/image.ts), so both read each other's rows. */
function imageSource(manifest: ImageManifest): { origin: string; recipeHash?: string; builtAt: string; packageCount: number } {
  return {
    origin: manifest.source ?? 'unknown',
    ...(manifest.recipeHash ? { recipeHash: manifest.recipeHash } : {}),
    builtAt: manifest.builtAt,
    packageCount: manifest.packages.length,
  };
}
