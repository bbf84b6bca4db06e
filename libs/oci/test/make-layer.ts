import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** One entry of a test layer: a tar-stream header plus file content. */
export type LayerEntry = Partial<tar.Header> & { name: string; content?: string | Buffer };

/** Builds an uncompressed tar in memory from entries, in the given order. */
export async function makeTar(entries: readonly LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => chunks.push(Buffer.from(c as Uint8Array)));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const { content, ...header } of entries) {
    const body = content === undefined ? undefined : Buffer.isBuffer(content) ? content : Buffer.from(content);
    await new Promise<void>((resolve, reject) => {
      const h = { mtime: new Date('2024-01-02T03:04:05Z'), uid: 0, gid: 0, ...header, ...(body ? { size: body.length } : {}) };
      pack.entry(h, body ?? Buffer.alloc(0), (e) => (e ? reject(e) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A gzip layer blob written to `path`; returns its digest (of the compressed bytes) and diff id. */
export async function writeGzipLayer(path: string, entries: readonly LayerEntry[]): Promise<{ digest: string; diffId: string; size: number; bytes: Buffer }> {
  const raw = await makeTar(entries);
  const gz = gzipSync(raw);
  await writeFile(path, gz);
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  return { digest: sha(gz), diffId: sha(raw), size: gz.length, bytes: gz };
}
