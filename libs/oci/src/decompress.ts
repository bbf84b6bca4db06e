import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { HostCommandError } from '@banger/errors';
import { findExecutable, installHint } from '@banger/host';

/** How a layer blob is compressed, read from its first bytes rather than trusted from the media type. */
export type Compression = 'gzip' | 'zstd' | 'none';

export async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b) return 'gzip';
    if (bytesRead >= 4 && buffer.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/** An uncompressed layer stream, and the sha256 of what it delivered (its diff_id) once it has ended. */
export interface LayerTar {
  stream: Readable;
  /** `sha256:<hex>` of the uncompressed bytes (padding excluded); valid after the stream ended. */
  diffId(): string;
}

/**
 * Opens a layer blob as an uncompressed tar stream. zstd goes through the
 * `zstd` CLI (Node 20 has no zstd); its stderr is folded into the error.
 * `onCompressedBytes` reports progress through the blob itself.
 */
export async function openLayerTar(path: string, onCompressedBytes?: (n: number) => void): Promise<LayerTar> {
  const raw = await openDecompressed(path, onCompressedBytes);
  const hash = createHash('sha256');
  let digest: string | undefined;
  const padded = withEndOfArchive(hash, () => (digest = `sha256:${hash.digest('hex')}`));
  raw.on('error', (e) => padded.destroy(e));
  return { stream: raw.pipe(padded), diffId: () => digest ?? 'incomplete' };
}

/**
 * Some writers (umoci) end a layer right after the last file's data: no
 * padding to a 512-byte block and no end-of-archive blocks. GNU tar accepts
 * that; tar-stream reports "Unexpected end of data". Padding to the block and
 * appending two zero blocks is harmless after a proper end too.
 */
function withEndOfArchive(hash: ReturnType<typeof createHash>, onEnd: () => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      total += chunk.length;
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      onEnd();
      cb(null, Buffer.alloc(((512 - (total % 512)) % 512) + 1024));
    },
  });
}

async function openDecompressed(path: string, onCompressedBytes?: (n: number) => void): Promise<Readable> {
  const compression = await detectCompression(path);
  const file = createReadStream(path);
  if (onCompressedBytes) file.on('data', (chunk) => onCompressedBytes(chunk.length));
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    file.on('error', (e) => gunzip.destroy(e));
    return file.pipe(gunzip);
  }
  if (compression === 'none') return file;
  const zstd = findExecutable('zstd');
  if (!zstd) throw new HostCommandError('zstd', `layer ${path} is zstd-compressed but zstd is not installed`, { hint: installHint('zstd') });
  // run() buffers output; a layer can be gigabytes, so this one tool is spawned as a stream.
  const child = spawn(zstd, ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  file.pipe(child.stdin);
  file.on('error', (e) => out.destroy(e));
  child.stdin.on('error', () => undefined); // EPIPE when zstd exits early; reported through the exit status
  child.stdout.pipe(out, { end: false });
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new HostCommandError('zstd', `zstd -d ${path}: ${stderr.trim().split('\n').at(-1) || `exit status ${code}`}`, { stderr }));
  });
  out.on('close', () => child.kill());
  return out;
}
