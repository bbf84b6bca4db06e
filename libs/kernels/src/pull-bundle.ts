import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BangerError, CancelledError, InternalError, UserError } from '@banger/errors';
import { buildDirAtomically, cleanStaleTemps, run, sha256File, type DebianSource, type ProgressSink } from '@banger/host';
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
      const manifest = await unpackBundle(archive, entry.name, destDir, options);
      return { manifest, outcome: 'downloaded' };
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
 * Fetches the tar.zst into `<cacheDir>/bundles/<sha256>.tar.zst`, resuming a
 * `.partial` file with a Range request. Network failures and HTTP errors
 * reject with BundleFetchError (the caller falls back to the recipe); a
 * completed download with the wrong sha256 rejects with a UserError.
 */
async function downloadBundle(bundle: { url: string; sha256: string }, options: PullKernelBundleOptions): Promise<string> {
  const dir = join(options.cacheDir, 'bundles');
  await mkdir(dir, { recursive: true });
  const done = join(dir, `${bundle.sha256}.tar.zst`);
  if (existsSync(done) && (await sha256File(done)) === bundle.sha256) return done;
  const partial = `${done}.partial`;
  const have = existsSync(partial) ? (await stat(partial)).size : 0;
  let response: Response;
  try {
    response = await fetch(bundle.url, {
      headers: have > 0 ? { Range: `bytes=${have}-` } : {},
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError(`download of ${bundle.url}: cancelled`);
    throw new BundleFetchError(`${bundle.url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`, error);
  }
  if (response.status === 416) {
    // Our partial file is longer than the resource: start over.
    await rm(partial, { force: true });
    return downloadBundle(bundle, options);
  }
  if (!response.ok || !response.body) throw new BundleFetchError(`${bundle.url}: HTTP ${response.status}`);
  const resumed = response.status === 206;
  const start = resumed ? have : 0;
  const length = Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  let received = start;
  options.progress?.line?.(`downloading ${bundle.url}${resumed ? ` (resuming at ${have} bytes)` : ''}`);
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    options.progress?.bytes?.(received, total);
  });
  try {
    await pipeline(body, createWriteStream(partial, { flags: resumed ? 'a' : 'w' }));
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError(`download of ${bundle.url}: cancelled`);
    throw new BundleFetchError(`${bundle.url}: download interrupted (${(error as Error).message})`, error);
  }
  const actual = await sha256File(partial);
  if (actual !== bundle.sha256) {
    await rm(partial, { force: true });
    throw new UserError('KERNEL_BUNDLE_CHECKSUM', `kernel bundle ${bundle.url} has sha256 ${actual}, the catalog says ${bundle.sha256}`, {
      hint: 'the published bundle or the catalog entry is wrong; nothing was registered',
    });
  }
  await rename(partial, done);
  return done;
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
