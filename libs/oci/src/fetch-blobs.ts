import { BangerError, CancelledError } from '@banger/errors';
import type { ProgressSink } from '@banger/host';
import { hasBlob, storeBlob } from './blob-cache.js';
import type { Descriptor } from './manifest.js';
import type { RegistryClient } from './registry-client.js';

/** Downloads the blobs not yet cached, `concurrency` at a time, reporting bytes across all of them. */
/** Tries per blob: a dropped connection mid-layer should not fail a multi-gigabyte pull. */
const MAX_ATTEMPTS = 3;

/**
 * A failure worth a retry: the connection dropped or the registry was
 * unreachable. A digest mismatch, an auth refusal or a 404 is not retried.
 */
function isTransient(error: unknown): boolean {
  if (error instanceof BangerError) return error.code === 'OCI_REGISTRY_UNREACHABLE';
  const code = (error as NodeJS.ErrnoException).code ?? (error as { cause?: { code?: string } }).cause?.code;
  return /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_CLOSED|ERR_STREAM_PREMATURE_CLOSE)$/.test(code ?? '') || /terminated|other side closed/i.test((error as Error).message ?? '');
}

export async function fetchBlobs(
  client: RegistryClient,
  cacheDir: string,
  repository: string,
  descriptors: readonly Descriptor[],
  where: string,
  concurrency: number,
  progress?: ProgressSink,
  outerSignal?: AbortSignal,
): Promise<void> {
  const missing: Descriptor[] = [];
  const seen = new Set<string>();
  for (const d of descriptors) {
    if (seen.has(d.digest)) continue; // an image may list the same layer twice
    seen.add(d.digest);
    if (!(await hasBlob(cacheDir, d.digest, d.size))) missing.push(d);
  }
  if (missing.length === 0) return;
  const total = missing.reduce((sum, d) => sum + d.size, 0);
  const done = new Map<string, number>();
  const report = () => progress?.bytes?.([...done.values()].reduce((a, b) => a + b, 0), total);
  if (progress && missing.length > 1) progress.line?.(`downloading ${missing.length} blobs (${(total / 1024 / 1024).toFixed(1)} MiB)`);
  const queue = [...missing];
  // the first failure stops the other downloads (storeBlob removes their temp files)
  const controller = new AbortController();
  const signal = outerSignal ? AbortSignal.any([outerSignal, controller.signal]) : controller.signal;
  let firstError: unknown;
  const worker = async () => {
    try {
      for (let d = queue.shift(); d && !signal.aborted; d = queue.shift()) {
        const desc = d;
        for (let attempt = 1; ; attempt++) {
          try {
            const { stream } = await client.openBlob(repository, desc.digest);
            await storeBlob(cacheDir, desc.digest, stream, {
              size: desc.size,
              where: `${where} (${client.registry})`,
              signal,
              onBytes: (n) => {
                done.set(desc.digest, n);
                report();
              },
            });
            break;
          } catch (error) {
            if (attempt >= MAX_ATTEMPTS || signal.aborted || !isTransient(error)) throw error;
            done.set(desc.digest, 0);
            progress?.line?.(`retrying ${desc.digest.slice(0, 19)} after: ${(error as Error).message}`);
            await new Promise((r) => setTimeout(r, 500 * attempt));
          }
        }
      }
    } catch (error) {
      if (firstError === undefined) {
        firstError = error;
        controller.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, missing.length) }, worker));
  if (outerSignal?.aborted) throw new CancelledError(`pull ${where}: cancelled`);
  if (firstError !== undefined) throw firstError;
}
