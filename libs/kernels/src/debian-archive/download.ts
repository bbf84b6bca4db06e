import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '@banger/errors';
import { sha256Meter, tempSibling } from '@banger/host';

/** Fetches `url` into memory (small files: InRelease). */
export async function fetchBytes(url: string, signal?: AbortSignal): Promise<Buffer> {
  const response = await get(url, signal);
  return Buffer.from(await response.arrayBuffer());
}

/**
 * Streams `url` into `target` while hashing it; the file appears under its
 * name only when its size and sha256 match what the signed index says, so a
 * tampered or cut download is never kept.
 */
export async function fetchVerified(url: string, target: string, expected: { sha256: string; size: number }, signal?: AbortSignal): Promise<void> {
  const response = await get(url, signal);
  const meter = sha256Meter({
    limit: { bytes: expected.size, error: () => new UserError('DEBIAN_DOWNLOAD_MISMATCH', `${url}: larger than the ${expected.size} bytes the signed index lists`) },
  });
  const tmp = tempSibling(target);
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), meter.stream, createWriteStream(tmp), ...(signal ? [{ signal }] : []));
    const size = meter.bytes();
    const actual = meter.digest();
    if (size !== expected.size || actual !== expected.sha256) {
      throw new UserError('DEBIAN_DOWNLOAD_MISMATCH', `${url}: got ${size} bytes with sha256 ${actual}, the signed index says ${expected.size} bytes with ${expected.sha256}`, {
        hint: 'the mirror may be tampered with or mid-sync; try again or use another debian_mirror',
      });
    }
    await rename(tmp, target);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function get(url: string, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new UserError('DEBIAN_MIRROR_UNREACHABLE', `cannot reach ${url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`, {
      hint: 'check the network and the debian_mirror setting',
      cause: error,
    });
  }
  if (!response.ok || !response.body) {
    throw new UserError('DEBIAN_MIRROR_HTTP', `${url}: HTTP ${response.status}`, { hint: 'check the debian_mirror setting' });
  }
  return response;
}
