import type { DebianSource } from '@banger/host';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, InternalError, NotFoundError, UserError } from '@banger/errors';
import type { ImagesTable } from '@banger/store';
import type { Graph, GraphRunOutcome, GraphRunner, Step, StepEvent } from '@banger/taskgraph';
import { buildImage } from '../build/build-image.js';
import type { CatalogEntry } from '../catalog/catalog-schema.js';
import { findImageEntry, imageCatalog, parseIndex } from '../catalog/image-catalog.js';
import { MANIFEST_FILE, readManifest, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from '../manifest.js';
import { publishImage } from '../publish/publish-image.js';
import { pullImage } from '../pull/pull-image.js';
import { recipeFingerprint, resolvePackageVersions } from '../recipe/fingerprint.js';
import type { Recipe } from '../recipe/schema.js';

/**
 * Where images live and how they are recorded: the one owner of
 * `<imagesDir>/<name>` and of the `images` table. `image pull`, `image
 * build` and a VM's `vm.fetch-image` all go through `pullCatalogImage` /
 * `imagePullGraph` with this, so they share the graph id, the `image:<name>`
 * lock and the download cache.
 */
export interface ImageHome {
  imagesDir: string;
  /** The host cache root: partial downloads and build caches go under it. */
  cacheDir: string;
  /** config `catalog_url`. */
  catalogUrl?: string;
  /** config `debian_mirror` / `debian_keyring`, for an image built from its recipe. */
  debian?: DebianSource;
  table: ImagesTable;
  /**
   * Resolves a catalog entry naming an `oci://` bundle to one with a
   * downloadable `bundle` (@banger/oci's resolveImageEntry, wired by whoever
   * builds the home: this lib cannot depend on the registry client).
   */
  resolveOci?: (entry: CatalogEntry, signal: AbortSignal) => Promise<ResolvedOciEntry<CatalogEntry>>;
}

/** A catalog entry whose `oci://` reference was resolved: its `bundle` names registry blobs, `headers` authorise fetching them. */
export interface ResolvedOciEntry<E> {
  entry: E;
  headers?: Record<string, string>;
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

/** Where an OCI pull came from (kept in the `source` column). */
export interface ImageOciOrigin {
  reference: string;
  manifestDigest: string;
  indexDigest?: string;
  configDigest: string;
  provisioned: boolean;
}

/** What the `source` JSON column of an image row holds; OCI pulls add `type: 'oci'` and the registry digests. */
export interface ImageSource extends Partial<ImageOciOrigin> {
  type?: 'oci';
  origin: string;
  recipeHash?: string;
  builtAt: string;
  packageCount: number;
}

const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The lock key of everything that writes images/<name> (pull, OCI pull, build, register, rm, a VM's fetch). */
export const imageLockKey = (name: string): string => `image:${name}`;
/**
 * Graph ids: a catalog pull and an OCI pull of the same name share `image:<name>`
 * (their step ids differ: `image.fetch` vs `image.oci-pull`); a build keeps its own.
 */
export const imagePullGraphId = (name: string): string => `image:${name}`;
export const imageBuildGraphId = (name: string): string => `image-build:${name}`;

/** Refuses a name that is not a valid image name (also a DNS label prefix, no `/`, `:` or `@`). */
export function assertImageName(name: string): void {
  if (!IMAGE_NAME.test(name)) {
    throw new UserError('IMAGE_BAD_NAME', `invalid image name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-' (at most 63)`);
  }
}

/** The error for touching an image while a pull or build of it runs. */
export function imageBusy(name: string): ConflictError {
  return new ConflictError('IMAGE_BUSY', `image ${name} is being pulled or built right now`, { hint: 'wait for that command to finish (or cancel it), then retry' });
}

/** Records (or updates) image `name` from its manifest; `oci` marks an OCI pull and keeps its digests. */
export function registerImage(home: Pick<ImageHome, 'table'>, name: string, dir: string, manifest: ImageManifest, oci?: ImageOciOrigin): void {
  const source: ImageSource = {
    ...(oci ? { type: 'oci' as const, ...oci } : {}),
    origin: manifest.source ?? 'unknown',
    ...(manifest.recipeHash ? { recipeHash: manifest.recipeHash } : {}),
    builtAt: manifest.builtAt,
    packageCount: manifest.packages.length,
  };
  home.table.put({
    name,
    version: manifest.version,
    dir,
    rootfsPath: join(dir, ROOTFS_FILE),
    sizeBytes: manifest.sizeBytes,
    sha256: manifest.files[ROOTFS_FILE]!.sha256,
    kernelName: manifest.defaultKernel,
    source,
  });
}

/** The registered image `name` whose rootfs exists, or undefined. Read-only. */
export function findImage(home: Pick<ImageHome, 'table'>, name: string): ImageRef | undefined {
  const row = home.table.find(name);
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
 * created: registered, a complete image directory, or a catalog entry
 * (pulled on demand). Otherwise a NotFoundError listing what is available.
 */
export async function assertImageKnown(home: ImageHome, name: string, signal?: AbortSignal): Promise<void> {
  if (findImage(home, name) || (await localImage(home, name))) return;
  const catalog = await imageCatalog({ ...(home.catalogUrl ? { catalogUrl: home.catalogUrl } : {}), ...(signal ? { signal } : {}) });
  if (catalog.entries.some((e) => e.name === name)) return;
  throw new NotFoundError('VM_IMAGE_UNKNOWN', `image ${name} is neither registered nor in the catalog (registered: ${home.table.names().join(', ') || 'none'}; catalog: ${catalog.entries.map((e) => e.name).join(', ')})`, {
    hint: 'see banger image list and banger image catalog',
  });
}

/** What a pull streams and whether it only plans. */
export interface ImagePullRun {
  signal: AbortSignal;
  emit: (event: StepEvent) => void;
  explain?: boolean;
  /** Adopt a complete image already in `<imagesDir>/<name>` without asking the catalog (a VM's fetch step: works offline). */
  adoptLocal?: boolean;
}

/**
 * Pulls catalog image `name` through `run` under `imagePullGraphId(name)`
 * and the `image:<name>` lock: `image.fetch` → `image.register`. A second
 * pull, from any caller, waits for the first and then skips every step.
 */
export async function pullCatalogImage(home: ImageHome, name: string, run: GraphRunner, options: ImagePullRun): Promise<GraphRunOutcome & { warnings: string[] }> {
  assertImageName(name);
  let entry: CatalogEntry | undefined = options.adoptLocal && (await localImage(home, name)) ? { name, description: `adopted from ${join(home.imagesDir, name)}` } : undefined;
  let warnings: string[] = [];
  if (!entry) {
    const catalog = await imageCatalog({ ...(home.catalogUrl ? { catalogUrl: home.catalogUrl } : {}), signal: options.signal });
    warnings = catalog.warnings;
    entry = findImageEntry(catalog, name);
  }
  const outcome = await run({
    graphId: imagePullGraphId(name),
    lockKey: imageLockKey(name),
    steps: imagePullGraph(home, entry),
    signal: options.signal,
    emit: options.emit,
    explain: options.explain ?? false,
  });
  return { ...outcome, warnings };
}

/** `image.fetch` (download the bundle, or build from the recipe when none is reachable), then `image.register`. */
export function imagePullGraph(home: ImageHome, entry: CatalogEntry): Graph {
  const dir = join(home.imagesDir, entry.name);
  const fetch: Step<{ version: string }> = {
    id: 'image.fetch',
    title: entry.oci ? `Pull image ${entry.name} from ${entry.oci}` : entry.bundle ? `Download image ${entry.name}` : entry.recipe ? `Build image ${entry.name} from recipe ${entry.recipe}` : `Adopt image ${entry.name}`,
    needs: [],
    inputs: () => ({ dir, ...(entry.oci ? { oci: entry.oci } : {}) }),
    isSatisfied: () => intactImage(dir, entry.name),
    run: async (step, report) => {
      // Safe to repeat: an intact image already there (an earlier attempt got this far) is adopted.
      const existing = await readManifest(dir).catch(() => undefined);
      if (existing?.name === entry.name && existsSync(join(dir, ROOTFS_FILE))) {
        report.line(`image ${entry.name} ${existing.version} is already in ${dir}`);
        return { version: existing.version };
      }
      if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
      const { entry: source, headers } = entry.oci ? await resolveOciEntry(home, entry, step.signal) : { entry, headers: undefined };
      const manifest = await pullImage({ entry: source, ...(headers ? { headers } : {}), destDir: dir, cacheDir: home.cacheDir, ...(home.debian ? { debian: home.debian } : {}), signal: step.signal, progress: report });
      return { version: manifest.version };
    },
    hint: 'check catalog_url and the network, then pull again (the download resumes)',
  };
  return [fetch, imageRegisterStep(home, entry.name, dir, 'image.fetch')];
}

/** The entry with its `oci://` reference resolved to a registry blob bundle. */
function resolveOciEntry(home: ImageHome, entry: CatalogEntry, signal: AbortSignal): Promise<ResolvedOciEntry<CatalogEntry>> {
  if (!home.resolveOci) {
    throw new InternalError('BUNDLE_OCI_UNAVAILABLE', `image ${entry.name}: the catalog names ${entry.oci}, but this process was set up without a registry client`, {
      hint: 'pull through the daemon (banger image pull)',
    });
  }
  return home.resolveOci(entry, signal);
}

/** `image.build` (no-op when the recipe fingerprint is unchanged), `image.register`, and `image.publish` with a publish dir. */
export function imageBuildGraph(home: ImageHome, recipe: Recipe, publishDir: string | undefined): Graph {
  const dir = join(home.imagesDir, recipe.name);
  const buildCache = join(home.cacheDir, 'build');
  let fingerprint: Promise<string> | undefined;
  const recipeHash = (signal: AbortSignal): Promise<string> =>
    (fingerprint ??= resolvePackageVersions(recipe, { cacheDir: buildCache, ...(home.debian ? { debian: home.debian } : {}), signal }).then((packages) => recipeFingerprint(recipe, packages)));
  const build: Step<{ version: string; recipeHash: string }> = {
    id: 'image.build',
    title: `Build image ${recipe.name}`,
    needs: [],
    inputs: async (plan) => ({ recipe: await recipeHash(plan.signal) }),
    isSatisfied: async (plan) => {
      const manifest = await readManifest(dir).catch(() => undefined);
      if (!manifest || !existsSync(join(dir, ROOTFS_FILE))) return { satisfied: false, reason: `no image in ${dir}` };
      return manifest.recipeHash === (await recipeHash(plan.signal)) || { satisfied: false, reason: 'the image was built from another recipe' };
    },
    run: async (step, report) => {
      const manifest = await buildImage({ recipe, outDir: dir, cacheDir: buildCache, ...(home.debian ? { debian: home.debian } : {}), signal: step.signal, progress: report });
      return { version: manifest.version, recipeHash: manifest.recipeHash ?? '' };
    },
    hint: 'see the step output above; mmdebstrap needs apt access to Debian and root (or sudo -n)',
  };
  const steps: Step<any>[] = [build, imageRegisterStep(home, recipe.name, dir, 'image.build')];
  if (publishDir) {
    steps.push({
      id: 'image.publish',
      title: `Publish image ${recipe.name} to ${publishDir}`,
      needs: ['image.register'],
      inputs: () => ({ publishDir }),
      isSatisfied: async () => {
        const manifest = await readManifest(dir).catch(() => undefined);
        const index = await readFile(join(publishDir, 'index.json'), 'utf8').then((text) => parseIndex(text, publishDir), () => undefined);
        const entry = index?.images.find((e) => e.name === recipe.name);
        if (!manifest || !entry?.bundle || entry.version !== manifest.version) return { satisfied: false, reason: `${publishDir}/index.json does not list this build` };
        return existsSync(join(publishDir, entry.bundle.url)) || { satisfied: false, reason: `${entry.bundle.url} is missing` };
      },
      run: async (step, report) => {
        const entry = await publishImage(dir, publishDir, { signal: step.signal, progress: report });
        return { index: join(publishDir, 'index.json'), bundle: join(publishDir, entry.bundle?.url ?? '') };
      },
    } satisfies Step<{ index: string; bundle: string }>);
  }
  return steps;
}

/** `image.register`: the `images` row matches the manifest in `dir`. */
export function imageRegisterStep(home: Pick<ImageHome, 'table'>, name: string, dir: string, needs: string): Step<{ version: string }> {
  return {
    id: 'image.register',
    title: `Register image ${name}`,
    needs: [needs],
    inputs: () => ({ dir }),
    isSatisfied: async () => {
      const row = home.table.find(name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const manifest = await readManifest(dir).catch(() => undefined);
      return (manifest !== undefined && row.dir === dir && row.version === manifest.version) || { satisfied: false, reason: 'the record does not match the image' };
    },
    run: async () => {
      const manifest = await readManifest(dir);
      registerImage(home, name, dir, manifest);
      return { version: manifest.version };
    },
  };
}

async function intactImage(dir: string, name: string): Promise<boolean | { satisfied: false; reason: string }> {
  const manifest = await readManifest(dir).catch(() => undefined);
  if (!manifest || !existsSync(join(dir, ROOTFS_FILE))) return { satisfied: false, reason: `no image in ${dir}` };
  return manifest.name === name || { satisfied: false, reason: `${dir} holds image ${manifest.name}` };
}

/** A complete image of that name already in `<imagesDir>/<name>` (copied there, or left by a pull killed before it registered). */
async function localImage(home: ImageHome, name: string): Promise<boolean> {
  const dir = join(home.imagesDir, name);
  if (!existsSync(join(dir, MANIFEST_FILE)) || !existsSync(join(dir, ROOTFS_FILE))) return false;
  const manifest = await readManifest(dir).catch(() => undefined);
  return manifest !== undefined;
}
