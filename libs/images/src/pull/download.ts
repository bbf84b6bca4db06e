import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError, InternalError } from '@banger/errors';
import { sha256File, type ProgressSink } from '@banger/host';

/** The transfer stopped part-way: the next attempt resumes it; once attempts run out it is told as BUNDLE_DOWNLOAD_FAILED. */
class TransferInterruptedError extends InternalError {}

/** The bundle could not be fetched at all (network, HTTP status, missing file): a caller may fall back to a recipe build. */
export class BundleUnreachableError extends InternalError {
  constructor(url: string, why: string, cause?: unknown) {
    super('BUNDLE_UNREACHABLE', `bundle ${url}: unreachable: ${why}`, { hint: 'check catalog_url and the network, or build the image from its recipe', cause });
  }
}

export interface DownloadOptions {
  url: string;
  /** Expected sha256 (hex) of the whole file: names the partial file and is verified at the end. */
  sha256: string;
  /** Expected size in bytes. */
  size: number;
  cacheDir: string;
  signal?: AbortSignal;
  progress?: ProgressSink;
  /** Attempts per call when the connection drops mid-transfer (each resumes with Range). */
  attempts?: number;
}

/**
 * Downloads a bundle into `<cacheDir>/downloads/<sha256>.zst` and returns its
 * path. Progress goes to `progress.bytes(done, total)`. Bytes land in
 * `<sha256>.zst.partial` first; an interrupted transfer (dropped connection,
 * abort, kill -9) resumes from the partial file with an HTTP Range request,
 * in this call or the next. The complete file's sha256 must match: on a
 * mismatch the partial is discarded and a BUNDLE_CHECKSUM_MISMATCH error
 * thrown. Also reads file:// URLs (a catalog in a local directory).
 */
export async function downloadBundle(options: DownloadOptions): Promise<string> {
  const dir = join(options.cacheDir, 'downloads');
  await mkdir(dir, { recursive: true });
  const final = join(dir, `${options.sha256}.zst`);
  const partial = `${final}.partial`;
  if (existsSync(final)) return final; // verified before it was renamed to this name

  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const before = await sizeOf(partial);
    try {
      await transfer(options, partial, before);
      break;
    } catch (error) {
      if (options.signal?.aborted) throw new CancelledError(`download ${options.url}: cancelled`, { cause: error });
      const after = await sizeOf(partial);
      const dropped = error instanceof BundleUnreachableError ? false : after > before || attempt === 1;
      if (!dropped || attempt >= attempts) throw wrapTransferError(options.url, error);
      options.progress?.line?.(`download interrupted at ${after} of ${options.size} bytes (${(error as Error).message}); resuming`);
    }
  }

  const got = await sizeOf(partial);
  const actual = await sha256File(partial, options.signal);
  if (got !== options.size || actual !== options.sha256) {
    await rm(partial, { force: true });
    throw new InternalError(
      'BUNDLE_CHECKSUM_MISMATCH',
      `bundle ${options.url}: sha256 is ${actual} (${got} bytes), the catalog says ${options.sha256} (${options.size} bytes); discarded`,
      { hint: 'the bundle or the catalog is corrupt or was replaced; republish it or pull again' },
    );
  }
  await rename(partial, final);
  return final;
}

/** One request: appends to `partial` from `offset` (a Range request when > 0). */
async function transfer(options: DownloadOptions, partial: string, offset: number): Promise<void> {
  const { url, size, signal, progress } = options;
  if (offset > size) {
    await rm(partial, { force: true });
    offset = 0;
  }
  if (offset === size) return;
  let body: Readable;
  let start = offset;
  if (url.startsWith('file:') || url.startsWith('/')) {
    const path = url.startsWith('file:') ? new URL(url) : url;
    try {
      await stat(path);
    } catch (error) {
      throw new BundleUnreachableError(url, (error as NodeJS.ErrnoException).code ?? 'cannot read it', error);
    }
    body = createReadStream(path, { start: offset, signal });
  } else {
    let response: Response;
    try {
      response = await fetch(url, { signal, headers: offset > 0 ? { range: `bytes=${offset}-` } : {} });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new BundleUnreachableError(url, causeText(error), error);
    }
    if (response.status === 206) {
      const range = /bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== offset) start = 0; // the server ignored our offset: start over
    } else if (response.status === 200) {
      start = 0; // no Range support: start over
    } else if (response.status === 416 && offset > 0) {
      await rm(partial, { force: true });
      throw new TransferInterruptedError('BUNDLE_RESUME_REJECTED', 'the server rejected the resume offset (416); restarting');
    } else {
      throw new BundleUnreachableError(url, `HTTP ${response.status} ${response.statusText}`);
    }
    if (!response.body) throw new BundleUnreachableError(url, 'empty response');
    body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }
  let done = start;
  progress?.bytes?.(done, size);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      if (done > size) {
        callback(new TransferInterruptedError('BUNDLE_TOO_LARGE', `the server sent more than the catalog's ${size} bytes`));
        return;
      }
      progress?.bytes?.(done, size);
      callback(null, chunk);
    },
  });
  await pipeline(body, counter, createWriteStream(partial, start === 0 ? { flags: 'w' } : { flags: 'a' }), { signal });
  if (done < size) throw new TransferInterruptedError('BUNDLE_DOWNLOAD_TRUNCATED', `connection closed after ${done} of ${size} bytes`);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

function wrapTransferError(url: string, error: unknown): Error {
  if ((error instanceof InternalError && !(error instanceof TransferInterruptedError)) || error instanceof CancelledError) return error;
  return new InternalError('BUNDLE_DOWNLOAD_FAILED', `bundle ${url}: download failed: ${causeText(error)}`, {
    hint: 'run the pull again: it resumes where it stopped',
    cause: error,
  });
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
