import { existsSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BangerError, InternalError, UserError } from '@banger/errors';
import { buildDirAtomically, cleanStaleTemps, downloadResumable, run, type DebianSource, type ProgressSink } from '@banger/host';
import { buildKernelBundle } from './build-bundle.js';
import { readKernelBundle, type KernelManifest } from './bundle-manifest.js';
import type { KernelCatalogEntry } from './catalog.js';

/** The bundle URL did not deliver (network, HTTP status, interrupted): the recipe is tried instead. */
class BundleFetchError extends InternalError {
  constructor(why: string, cause?: unknown) {
    super('KERNEL_BUNDLE_DOWNLOAD_FAILED', why, { cause });
  }
}

export interface PullKernelBundleOptions {
  entry: KernelCatalogEntry;
  /** The bundle directory to create, e.g. `<kernelsDir>/<name>`. */
  destDir: string;
  /** Downloads (`<cacheDir>/bundles`) and .debs (`<cacheDir>/debs`) are kept here. */
  cacheDir: string;
  /** Where a build from the recipe downloads packages (`debian_mirror`, `debian_keyring`). */
  debian?: DebianSource;
  /** Request headers for the bundle URL (a registry's Authorization for an `oci://` entry). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/** What pullKernelBundle did. */
export interface PulledKernelBundle {
  manifest: KernelManifest;
  /** `cached`: destDir already held the bundle; `downloaded`: from entry.bundle.url; `built`: from the recipe. */
  outcome: 'cached' | 'downloaded' | 'built';
}

/**
 * Makes `destDir` hold the catalog entry's bundle. An intact bundle of that
 * name already there is kept (a no-op). Otherwise, when the entry has a
 * bundle URL that answers, the tar.zst is downloaded into the cache (resuming
 * a partial download with HTTP Range), its sha256 checked against the
 * entry, and unpacked and verified in a temp dir before it is renamed into
 * place; a wrong sha256 is an error and leaves nothing. When the URL is
 * unreachable (or absent) the bundle is built from the entry's recipe.
 */
export async function pullKernelBundle(options: PullKernelBundleOptions): Promise<PulledKernelBundle> {
  const { entry, destDir, progress } = options;
  await cleanStaleTemps(destDir);
  if (existsSync(destDir)) {
    const existing = await readKernelBundle(destDir).catch(() => undefined);
    if (existing?.name === entry.name) {
      progress?.line?.(`kernel ${entry.name} ${existing.version} is already pulled`);
      return { manifest: existing, outcome: 'cached' };
    }
  }
  let unreachable: string | undefined;
  if (entry.bundle) {
    const archive = await downloadBundle(entry.bundle, options).catch((error: unknown) => {
      if (error instanceof BangerError && !(error instanceof BundleFetchError)) throw error;
      unreachable = (error as Error).message;
      return undefined;
    });
    if (archive) {
      try {
        const manifest = await unpackBundle(archive, entry.name, destDir, options);
        return { manifest, outcome: 'downloaded' };
      } finally {
        // Unpacked and verified (or refused): the archive is a second copy nobody reads again, as an image
        // pull's download (the fault suite's leak check found it kept in the cache forever).
        await rm(archive, { force: true });
      }
    }
  }
  if (!entry.recipe) {
    throw new UserError('KERNEL_BUNDLE_UNREACHABLE', `cannot pull kernel ${entry.name}: ${entry.bundle?.url} is unreachable (${unreachable}) and the entry has no recipe`, {
      hint: 'check the network, or build a kernel with banger kernel build --from-deb <package>',
    });
  }
  if (unreachable) progress?.line?.(`bundle download failed (${unreachable}); building from ${entry.recipe.debPackage}`);
  const manifest = await buildKernelBundle({
    debPackage: entry.recipe.debPackage,
    name: entry.name,
    outDir: destDir,
    cacheDir: options.cacheDir,
    ...(options.debian ? { debian: options.debian } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(progress ? { progress } : {}),
  });
  return { manifest, outcome: 'built' };
}

/**
 * Fetches the tar.zst into `<cacheDir>/bundles/<sha256>.tar.zst` with the
 * host toolkit's resumable, verified download (a `.partial` file resumes with
 * a Range request). Network failures and HTTP errors reject with
 * BundleFetchError (the caller falls back to the recipe); a completed
 * download with the wrong sha256 rejects with a UserError.
 */
async function downloadBundle(bundle: { url: string; sha256: string }, options: PullKernelBundleOptions): Promise<string> {
  const target = join(options.cacheDir, 'bundles', `${bundle.sha256}.tar.zst`);
  const have = await stat(`${target}.partial`).then((s) => s.size, () => 0);
  options.progress?.line?.(`downloading ${bundle.url}${have > 0 ? ` (resuming at ${have} bytes)` : ''}`);
  return downloadResumable({
    url: bundle.url,
    target,
    sha256: bundle.sha256,
    // The catalog has no size: a cached file is hashed again before it is trusted.
    reverifyTarget: true,
    // One retry, so a refused resume offset (416) starts over rather than falling back to the recipe.
    attempts: 2,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    errors: {
      unreachable: (why, cause) => new BundleFetchError(`${bundle.url}: ${why}`, cause),
      failed: (why, cause) => new BundleFetchError(`${bundle.url}: download interrupted (${why})`, cause),
      mismatch: (actual) =>
        new UserError('KERNEL_BUNDLE_CHECKSUM', `kernel bundle ${bundle.url} has sha256 ${actual.sha256}, the catalog says ${bundle.sha256}`, {
          hint: 'the published bundle or the catalog entry is wrong; nothing was registered',
        }),
    },
  });
}

async function unpackBundle(archive: string, name: string, destDir: string, options: PullKernelBundleOptions): Promise<KernelManifest> {
  options.progress?.line?.('unpacking kernel bundle');
  return buildDirAtomically(destDir, async (tmp) => {
    await run('tar', ['--zstd', '-xf', archive, '-C', tmp, '--no-same-owner', '--no-same-permissions'], options.signal ? { signal: options.signal } : {});
    const manifest = await readKernelBundle(tmp, { verify: true });
    if (manifest.name !== name) {
      throw new UserError('KERNEL_BUNDLE_MISMATCH', `kernel bundle ${archive} is named ${manifest.name}, the catalog entry is ${name}`, {
        hint: 'fix the catalog entry or republish the bundle',
      });
    }
    return manifest;
  }, { replace: true });
}
