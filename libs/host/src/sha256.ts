import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';

/** sha256 (hex) of a file, streamed in 1 MiB reads. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface Sha256MeterOptions {
  /** The most bytes allowed through: one more fails the stream with `error(bytes)`, before it is written. */
  limit?: { bytes: number; error: (bytes: number) => Error };
  /** Called with the running byte count after each chunk (progress). */
  onBytes?: (bytes: number) => void;
}

/** A pass-through that hashes and counts what flows through it. */
export interface Sha256Meter {
  stream: Transform;
  /** Bytes seen so far. */
  bytes(): number;
  /** Hex sha256 of everything seen; call once, after the stream has ended. */
  digest(): string;
}

/**
 * Hashes a download or copy while it is written, so it is verified without
 * being read a second time, and stops it as soon as it is larger than it
 * should be (a hostile or broken server cannot fill the disk).
 */
export function sha256Meter(options: Sha256MeterOptions = {}): Sha256Meter {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      if (options.limit && bytes > options.limit.bytes) {
        callback(options.limit.error(bytes));
        return;
      }
      hash.update(chunk);
      options.onBytes?.(bytes);
      callback(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, digest: () => hash.digest('hex') };
}
