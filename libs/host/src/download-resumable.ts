import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BangerError, CancelledError, InternalError } from '@banger/errors';
import type { ProgressSink } from './progress.js';
import { sha256File } from './sha256.js';

/** The transfer stopped part-way (cut connection, short body, refused offset): the next attempt resumes it. */
export class DownloadInterruptedError extends InternalError {}

/** The caller's words for each way a download fails: its codes, its hints, what it is downloading. */
export interface DownloadErrors {
  /** The source cannot be fetched at all (network, HTTP status, missing file). Not retried: a caller may fall back. */
  unreachable(why: string, cause?: unknown): Error;
  /** The transfer kept being interrupted and the attempts ran out (the partial file is kept for the next call). */
  failed(why: string, cause: unknown): Error;
  /** Complete, but not the bytes expected; the partial file is already gone. */
  mismatch(actual: { sha256: string; size: number }): Error;
}

export interface ResumableDownloadOptions {
  /** http(s)://, file:// or an absolute path. */
  url: string;
  /** Where the verified file ends up; bytes land in `<target>.partial` until then. */
  target: string;
  /** Expected sha256 (hex) of the whole file, verified before it gets its name. */
  sha256: string;
  /** Expected size in bytes: bounds the transfer and is verified. Unknown when omitted (progress then uses Content-Length). */
  size?: number;
  /** Attempts per call when the connection drops mid-transfer (each resumes with Range). Default 5. */
  attempts?: number;
  /** Hash an existing `target` again before trusting it (it was verified before it was renamed to that name). */
  reverifyTarget?: boolean;
  /** Extra request headers for http(s) URLs (a registry's `Authorization`); the Range header is added per attempt. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  progress?: ProgressSink;
  errors: DownloadErrors;
}

/**
 * Downloads `url` to `target`, verified, and returns `target`. Progress goes
 * to `progress.bytes(done, total)`. An interrupted transfer (dropped
 * connection, abort, kill -9) resumes from the partial file with an HTTP
 * Range request, in this call or the next. A file that is complete but has
 * the wrong sha256 (or size) is discarded.
 */
export async function downloadResumable(options: ResumableDownloadOptions): Promise<string> {
  const { url, target, signal } = options;
  const partial = `${target}.partial`;
  await mkdir(dirname(target), { recursive: true });
  if (existsSync(target) && (!options.reverifyTarget || (await sha256File(target, signal)) === options.sha256)) return target;

  // Errors from errors.unreachable: not a dropped transfer, so not retried.
  const unreachable = new WeakSet<object>();
  const fail = (why: string, cause?: unknown): Error => {
    const error = options.errors.unreachable(why, cause);
    unreachable.add(error);
    return error;
  };
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const before = await sizeOf(partial);
    try {
      await transfer(options, partial, before, fail);
      break;
    } catch (error) {
      if (signal?.aborted) throw new CancelledError(`download ${url}: cancelled`, { cause: error });
      const after = await sizeOf(partial);
      const dropped = unreachable.has(error as object) ? false : after > before || attempt === 1;
      if (!dropped || attempt >= attempts) {
        const passes = unreachable.has(error as object) || error instanceof CancelledError || (error instanceof BangerError && !(error instanceof DownloadInterruptedError));
        throw passes ? error : options.errors.failed(causeText(error), error);
      }
      options.progress?.line?.(`download interrupted at ${after} of ${options.size ?? 'unknown'} bytes (${(error as Error).message}); resuming`);
    }
  }

  const got = await sizeOf(partial);
  const actual = await sha256File(partial, signal);
  if ((options.size !== undefined && got !== options.size) || actual !== options.sha256) {
    await rm(partial, { force: true });
    throw options.errors.mismatch({ sha256: actual, size: got });
  }
  await rename(partial, target);
  return target;
}

/** One request: appends to `partial` from `offset` (a Range request when > 0). */
async function transfer(options: ResumableDownloadOptions, partial: string, offset: number, fail: (why: string, cause?: unknown) => Error): Promise<void> {
  const { url, size, signal, progress } = options;
  if (size !== undefined && offset > size) {
    await rm(partial, { force: true });
    offset = 0;
  }
  if (offset === size) return;
  let body: Readable;
  let start = offset;
  let total = size;
  if (url.startsWith('file:') || url.startsWith('/')) {
    const path = url.startsWith('file:') ? new URL(url) : url;
    try {
      total ??= (await stat(path)).size;
    } catch (error) {
      throw fail((error as NodeJS.ErrnoException).code ?? 'cannot read it', error);
    }
    body = createReadStream(path, { start: offset, ...(signal ? { signal } : {}) });
  } else {
    let response: Response;
    try {
      response = await fetch(url, { ...(signal ? { signal } : {}), headers: { ...options.headers, ...(offset > 0 ? { range: `bytes=${offset}-` } : {}) } });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw fail(causeText(error), error);
    }
    if (response.status === 206) {
      const range = /bytes (\d+)-/.exec(response.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== offset) start = 0; // the server ignored our offset: start over
    } else if (response.status === 200) {
      start = 0; // no Range support: start over
    } else if (response.status === 416 && offset > 0) {
      await rm(partial, { force: true });
      throw new DownloadInterruptedError('DOWNLOAD_RESUME_REJECTED', 'the server rejected the resume offset (416); restarting');
    } else {
      throw fail(`HTTP ${response.status} ${response.statusText}`);
    }
    if (!response.body) throw fail('empty response');
    const length = Number(response.headers.get('content-length') ?? NaN);
    total ??= Number.isFinite(length) ? start + length : undefined;
    body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }
  let done = start;
  progress?.bytes?.(done, total);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      done += chunk.length;
      if (size !== undefined && done > size) {
        callback(new DownloadInterruptedError('DOWNLOAD_TOO_LARGE', `the server sent more than the expected ${size} bytes`));
        return;
      }
      progress?.bytes?.(done, total);
      callback(null, chunk);
    },
  });
  await pipeline(body, counter, createWriteStream(partial, start === 0 ? { flags: 'w' } : { flags: 'a' }), ...(signal ? [{ signal }] : []));
  if (size !== undefined && done < size) throw new DownloadInterruptedError('DOWNLOAD_TRUNCATED', `connection closed after ${done} of ${size} bytes`);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** The most specific reason fetch gives (`ECONNREFUSED` rather than "fetch failed"). */
function causeText(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
