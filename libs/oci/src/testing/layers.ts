import { createHash } from 'node:crypto';
import { lstat, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** `sha256:<hex>` of some bytes: an OCI digest. */
export const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** One entry of a test layer: a tar-stream header plus file content. */
export type LayerEntry = Partial<tar.Header> & { name: string; content?: string | Buffer };

/** A gzip layer and the digest of its uncompressed tar (the config's diff_id). */
export interface LayerBlob {
  bytes: Buffer;
  diffId: string;
}

/** A gzip layer with its own (compressed) digest as well. */
export interface BuiltLayer extends LayerBlob {
  digest: string;
}

/** Builds an uncompressed tar in memory from entries, in the given order (fixed mtime, root-owned by default). */
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

/** A gzip layer blob in memory, with its digest and diff id. */
export async function buildLayer(entries: readonly LayerEntry[]): Promise<BuiltLayer> {
  const raw = await makeTar(entries);
  const bytes = gzipSync(raw);
  return { bytes, digest: sha256(bytes), diffId: sha256(raw) };
}

/** A gzip layer blob written to `path`; returns its digest (of the compressed bytes), diff id and size. */
export async function writeGzipLayer(path: string, entries: readonly LayerEntry[]): Promise<BuiltLayer & { size: number }> {
  const layer = await buildLayer(entries);
  await writeFile(path, layer.bytes);
  return { ...layer, size: layer.bytes.length };
}

/**
 * Every path under `base` sorted, directories with a trailing `/` and
 * symlinks as `path -> target`: a whole tree comparable in one assertion.
 */
export async function listTree(base: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(base, prefix))).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = await lstat(join(base, rel));
    if (st.isDirectory()) out.push(`${rel}/`, ...(await listTree(base, rel)));
    else if (st.isSymbolicLink()) out.push(`${rel} -> ${await readlink(join(base, rel))}`);
    else out.push(rel);
  }
  return out;
}
