import { existsSync } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CancelledError } from '@banger/errors';
import { cleanStaleTemps, run, runPrivileged, sha256File, tempSibling, writeJsonAtomic, type DebianSource, type ProgressSink } from '@banger/host';
import { MANIFEST_FILE, readManifest, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from '../manifest.js';
import { recipeFingerprint, resolvePackageVersions } from '../recipe/fingerprint.js';
import { loadRecipe } from '../recipe/load-recipe.js';
import type { Recipe } from '../recipe/schema.js';
import { debianAptSources } from './apt-sources.js';
import { writeCustomizeStaging } from './customize-script.js';
import { makeExt4FromTree } from './make-ext4.js';
import { runMmdebstrap } from './mmdebstrap.js';
import { fetchNpmBinary } from './npm-binary.js';
import { removeTree } from './remove-tree.js';

export interface BuildImageOptions {
  /** A built-in recipe name or a recipe .toml path; or pass `recipe`. */
  recipeName?: string;
  recipe?: Recipe;
  /** The image dir to create (replaced atomically when it exists and is outdated). */
  outDir: string;
  /** Kept between builds: .deb archive, npm tarballs. */
  cacheDir: string;
  signal?: AbortSignal;
  progress?: ProgressSink;
  /** Rebuild even when outDir already holds this fingerprint. */
  force?: boolean;
  /** deb822 apt sources to build from instead of the Debian mirror's (tests point this at a local mirror). */
  aptSources?: string;
  /** The mirror (`debian_mirror`) and keyring of the default sources. */
  debian?: DebianSource;
}

/**
 * Builds an image dir from a recipe: mmdebstrap into a temp tree, the guest
 * contract and the recipe's files/units/npm binaries/post-build script
 * applied, `/root` also saved as root-skel.tar, then a sparse, fsck-clean
 * `rootfs.ext4` (label banger-root, root-owned files) and manifest.json.
 * Everything is made in `<outDir>.tmp-<pid>-*` and renamed into place; the
 * temp tree is removed on success, failure and abort. When outDir already
 * holds an image with the same recipe fingerprint the build is a no-op.
 */
export async function buildImage(options: BuildImageOptions): Promise<ImageManifest> {
  const { outDir, signal, progress } = options;
  const recipe = options.recipe ?? (await loadRecipe(options.recipeName ?? 'debian-bookworm'));
  const resolved = await resolvePackageVersions(recipe, { cacheDir: options.cacheDir, aptSources: options.aptSources, ...(options.debian ? { debian: options.debian } : {}), signal, progress });
  const recipeHash = recipeFingerprint(recipe, resolved);

  if (!options.force) {
    const existing = await currentImage(outDir);
    if (existing?.recipeHash === recipeHash) {
      progress?.line?.(`image ${recipe.name} is up to date (recipe ${recipeHash.slice(0, 12)})`);
      return existing;
    }
  }

  await mkdir(dirname(outDir), { recursive: true });
  await cleanStaleTemps(outDir, removeTree);
  const work = tempSibling(outDir);
  const out = join(work, 'out');
  const staging = join(work, 'staging');
  const tree = join(work, 'tree');
  await mkdir(out, { recursive: true });
  await mkdir(staging, { recursive: true });
  try {
    const npmBinaries: string[] = [];
    for (const bin of recipe.npm_binaries) {
      npmBinaries.push(await fetchNpmBinary(bin, options.cacheDir, { signal, progress }));
    }
    checkAborted(signal);

    const sourcesFile = join(staging, 'sources.sources');
    await writeFile(sourcesFile, options.aptSources ?? debianAptSources(recipe.suite, options.debian));
    const customizeScript = await writeCustomizeStaging(recipe, join(staging, 'customize'), npmBinaries);

    progress?.line?.(`mmdebstrap ${recipe.suite} (${recipe.variant}, ${recipe.packages.length} packages)`);
    await runMmdebstrap({ recipe, tree, sourcesFile, customizeScript, cacheDir: options.cacheDir, signal, progress });
    checkAborted(signal);

    const packages = await installedPackages(tree, signal);
    await runPrivileged('tar', ['--numeric-owner', '-C', join(tree, 'root'), '-cf', join(out, ROOT_SKEL_FILE), '.'], { signal });

    const rootfs = join(out, ROOTFS_FILE);
    const sizeBytes = await makeExt4FromTree({ tree, outFile: rootfs, label: 'banger-root', headroomMiB: recipe.headroom_mib, signal, progress });
    progress?.line?.('hashing rootfs.ext4');
    const builtAt = new Date();
    const manifest: ImageManifest = {
      name: recipe.name,
      version: `${builtAt.toISOString().slice(0, 10).replace(/-/g, '')}-${recipeHash.slice(0, 12)}`,
      recipeHash,
      sizeBytes,
      files: {
        [ROOTFS_FILE]: { sha256: await sha256File(rootfs, signal), size: sizeBytes },
        [ROOT_SKEL_FILE]: { sha256: await sha256File(join(out, ROOT_SKEL_FILE), signal), size: (await stat(join(out, ROOT_SKEL_FILE))).size },
      },
      defaultKernel: recipe.default_kernel,
      packages,
      builtAt: builtAt.toISOString(),
      source: `recipe:${recipe.name}`,
    };
    await writeJsonAtomic(join(out, MANIFEST_FILE), manifest);
    checkAborted(signal);
    await replaceDir(out, outDir);
    progress?.line?.(`built image ${recipe.name} ${manifest.version} (${Math.round(sizeBytes / 2 ** 20)} MiB)`);
    return manifest;
  } finally {
    await removeTree(work);
  }
}

/** The manifest of an intact image already at `dir`, if any. */
async function currentImage(dir: string): Promise<ImageManifest | undefined> {
  if (!existsSync(join(dir, ROOTFS_FILE))) return undefined;
  return readManifest(dir).catch(() => undefined);
}

/** Every installed package as `name=version`, read from the tree's dpkg database. */
async function installedPackages(tree: string, signal?: AbortSignal): Promise<string[]> {
  const result = await run('dpkg-query', [`--admindir=${join(tree, 'var/lib/dpkg')}`, '-W', '-f', '${Package}=${Version}\\n'], { signal });
  return result.stdout.split('\n').filter(Boolean).sort();
}

/**
 * Moves a finished dir into place. An existing dir is first moved aside to a
 * temp sibling, so at every instant `target` is either the old or the new
 * complete image (a crash in between leaves a stale temp, cleaned next time).
 */
export async function replaceDir(source: string, target: string): Promise<void> {
  if (existsSync(target)) {
    const aside = tempSibling(target);
    await rename(target, aside);
    await rename(source, target);
    await removeTree(aside);
  } else {
    await rename(source, target);
  }
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError('image build: cancelled');
}
