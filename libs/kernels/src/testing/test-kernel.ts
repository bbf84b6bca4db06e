import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ProgressSink } from '@banger/host';
import { testCacheRoot } from '@banger/host/testing';
import { buildKernelBundle } from '../build-bundle.js';
import { kernelBundlePaths, readKernelBundle, type KernelBundlePaths, type KernelManifest } from '../bundle-manifest.js';

/** The kernel bundle tests boot: Debian's cloud kernel, built once into the test cache. */
export interface TestKernel {
  dir: string;
  manifest: KernelManifest;
  paths: KernelBundlePaths;
}

export const testKernelDir = (): string => join(testCacheRoot(), 'kernels', 'bundles', 'debian-cloud');

/**
 * Builds (or reuses, when the package version and builder revision match)
 * the debian-cloud kernel bundle under the test cache. Every test that boots
 * a guest calls this instead of skipping when the bundle is not there yet:
 * nx does not order test tasks across projects, so on a cold machine the
 * bundle may not exist when a test starts. When another test process wins
 * the race to build it, its bundle is used.
 */
export async function ensureTestKernel(progress?: ProgressSink): Promise<TestKernel> {
  const dir = testKernelDir();
  let manifest: KernelManifest;
  try {
    manifest = await buildKernelBundle({
      debPackage: 'linux-image-cloud-amd64',
      name: 'debian-cloud',
      outDir: dir,
      cacheDir: join(testCacheRoot(), 'kernels'),
      ...(progress ? { progress } : {}),
    });
  } catch (error) {
    if (!existsSync(dir)) throw error;
    manifest = await readKernelBundle(dir); // built concurrently by another test process
  }
  return { dir, manifest, paths: kernelBundlePaths(dir) };
}
