import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanStaleTemps, type ProgressSink } from '@banger/host';
import { testCacheRoot, testDebianMirror } from '@banger/host/testing';
import { buildImage } from './build/build-image.js';
import { withDirLock } from './fs/dir-lock.js';
import { removeTree } from './build/remove-tree.js';
import { MANIFEST_FILE, ROOTFS_FILE } from './manifest.js';
import { recipeFingerprint, resolvePackageVersions } from './recipe/fingerprint.js';
import { loadRecipe } from './recipe/load-recipe.js';

/** Where tests across the workspace cache slow artefacts (see testCacheRoot in `@banger/host/testing`). */
export const defaultTestCacheDir = testCacheRoot;

/**
 * For tests (this lib's and other engineers' e2e tests): the image dir of a
 * real `debian-minimal` build, cached at `<cacheDir>/images/<recipeHash>/`
 * (rootfs.ext4, root-skel.tar, manifest.json). Builds it (≈ 70–100 s) when
 * missing; concurrent callers wait on a lock instead of building twice.
 * `recipeName` picks another built-in recipe (the slow golden-image test
 * passes `debian-bookworm`).
 */
export async function ensureTestImage(cacheDir: string = defaultTestCacheDir(), progress?: ProgressSink, recipeName = 'debian-minimal'): Promise<string> {
  const recipe = await loadRecipe(recipeName);
  const buildCache = join(cacheDir, 'build-cache');
  const recipeHash = recipeFingerprint(recipe, await resolvePackageVersions(recipe, { cacheDir: buildCache, debian: { mirror: testDebianMirror() }, progress }));
  const imagesDir = join(cacheDir, 'images');
  const dir = join(imagesDir, recipeHash);
  if (existsSync(join(dir, MANIFEST_FILE)) && existsSync(join(dir, ROOTFS_FILE))) return dir;
  await mkdir(imagesDir, { recursive: true });
  // A test killed mid-build leaves a tree (maybe with /proc mounted in it) under an older fingerprint's name.
  await cleanStaleTemps(dir, removeTree);
  return withDirLock(
    join(imagesDir, `.lock-${recipe.name}`),
    async () => {
      await buildImage({ recipe, outDir: dir, cacheDir: buildCache, debian: { mirror: testDebianMirror() }, progress });
      return dir;
    },
    { onWait: (pid) => progress?.line?.(`waiting for pid ${pid}, which is building ${recipe.name}`) },
  );
}
