import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { CancelledError, HostCommandError } from '@banger/errors';
import { findExecutable, installHint, type ProgressSink } from '@banger/host';
import { SparseWriter } from '../fs/sparse-writer.js';

/** What `decompressRootfs` wrote. */
export interface DecompressedRootfs {
  /** sha256 (hex) of the decompressed bytes, holes included. */
  sha256: string;
  /** Bytes decompressed, i.e. the file's size. */
  size: number;
}

/** Options of `decompressRootfs`. */
export interface DecompressRootfsOptions {
  /** The zstd file. */
  bundleFile: string;
  /** The file to create (it must not exist). */
  dest: string;
  /** Names the bundle in errors (its URL). */
  label: string;
  /** Expected decompressed size, for `progress.bytes`. */
  total?: number;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Decompresses a zstd bundle into `dest` (created, must not exist) as a
 * sparse file, hashing the bytes as they pass: one pass instead of
 * `zstd -d --sparse` followed by a second read of the whole (mostly hole)
 * file for its sha256. `zstd -d -c` streams into Node because run() buffers
 * output; its stderr names the failure. Aborting kills zstd and throws
 * CancelledError; the caller removes `dest`. Progress goes to
 * `progress.bytes(done, total)` in decompressed bytes.
 */
export async function decompressRootfs(options: DecompressRootfsOptions): Promise<DecompressedRootfs> {
  const { bundleFile, dest, label, total, signal, progress } = options;
  const zstd = findExecutable('zstd');
  if (!zstd) throw new HostCommandError('zstd', `bundle ${label}: cannot decompress it, zstd is not installed`, { hint: installHint('zstd') });
  if (signal?.aborted) throw new CancelledError(`bundle ${label}: decompression cancelled`);
  const fh = await open(dest, 'wx');
  const child = spawn(zstd, ['-d', '-c', '-q', '--', bundleFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, sig) => resolve({ code, signal: sig }));
  });
  const onAbort = (): void => void child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const hash = createHash('sha256');
    const writer = new SparseWriter(fh);
    let streamError: unknown;
    try {
      for await (const chunk of child.stdout) {
        hash.update(chunk as Buffer);
        await writer.write(chunk as Buffer);
        progress?.bytes?.(writer.position, total);
      }
    } catch (error) {
      streamError = error; // a failed write (disk full): reported below, after zstd is gone
      child.kill('SIGKILL');
    }
    const exit = await exited;
    if (signal?.aborted) throw new CancelledError(`bundle ${label}: decompression cancelled`);
    if (streamError) throw streamError;
    if (exit.error || exit.code !== 0) {
      const why = stderr.trim().split('\n').at(-1) || exit.error?.message || (exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`);
      throw new HostCommandError('zstd', `bundle ${label}: zstd -d failed: ${why}`, { hint: 'delete the cached bundle and pull again', stderr, cause: exit.error });
    }
    const size = await writer.finish();
    return { sha256: hash.digest('hex'), size };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await fh.close();
  }
}
