import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InternalError } from '@banger/errors';
import { sha256Meter, tempSibling, writeFileAtomic, writeJsonAtomic } from '@banger/host';

/**
 * The content-addressed layer cache: `<cacheDir>/oci/blobs/sha256/<hex>`.
 * A blob only ever appears under its name after its sha256 was checked, so a
 * file present there IS that content. Next to it, `<cacheDir>/oci/images/<hex>.json`
 * records, per image manifest digest, which blobs that image uses: that is
 * what `pruneBlobs` consults to keep the blobs of images still registered.
 */
export const blobsDir = (cacheDir: string): string => join(cacheDir, 'oci', 'blobs', 'sha256');
export const imagesIndexDir = (cacheDir: string): string => join(cacheDir, 'oci', 'images');

const hexOf = (digest: string): string => {
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new InternalError('OCI_DIGEST_INVALID', `invalid digest "${digest}": expected sha256:<64 hex>`);
  return digest.slice('sha256:'.length);
};

/** Path of a blob in the cache (whether or not it is there yet). */
export const blobPath = (cacheDir: string, digest: string): string => join(blobsDir(cacheDir), hexOf(digest));

/** True when the verified blob is already cached (and has the expected size, when given). */
export async function hasBlob(cacheDir: string, digest: string, size?: number): Promise<boolean> {
  try {
    const st = await stat(blobPath(cacheDir, digest));
    return st.isFile() && (size === undefined || st.size === size);
  } catch {
    return false;
  }
}

/** A blob whose bytes do not hash to the digest that names it. */
export class BlobDigestMismatchError extends InternalError {
  constructor(
    readonly digest: string,
    readonly actual: string,
    where: string,
  ) {
    super('OCI_BLOB_DIGEST_MISMATCH', `blob ${digest} from ${where} failed verification: content hashes to ${actual}`, {
      hint: 'the registry or a proxy served corrupted data; nothing was kept, retry the pull',
    });
  }
}

/** A blob that is larger than its descriptor says. */
export class BlobSizeMismatchError extends InternalError {
  constructor(digest: string, expected: number, actual: number, where: string) {
    super('OCI_BLOB_SIZE_MISMATCH', `blob ${digest} from ${where} is ${actual} bytes, the manifest says ${expected}`, {
      hint: 'the registry or a proxy served corrupted data; nothing was kept, retry the pull',
    });
  }
}

export interface StoreBlobOptions {
  /** Size from the descriptor: a longer stream is cut off early, a different final size fails. */
  size?: number;
  /** Where the bytes came from, for error messages (e.g. `127.0.0.1:5000/tiny`). */
  where: string;
  /** Called with the running byte count as chunks arrive. */
  onBytes?: (done: number) => void;
  signal?: AbortSignal;
}

/**
 * Streams `source` into the cache as `digest`, hashing while writing to a temp
 * name, and renames it into place only when the sha256 (and size) match. On a
 * mismatch, an abort or any error the temp file is removed and nothing is
 * cached. Returns the final path.
 */
export async function storeBlob(cacheDir: string, digest: string, source: Readable, options: StoreBlobOptions): Promise<string> {
  const final = blobPath(cacheDir, digest);
  await mkdir(blobsDir(cacheDir), { recursive: true });
  const temp = tempSibling(final);
  const { size, where, onBytes } = options;
  const meter = sha256Meter({
    ...(size !== undefined ? { limit: { bytes: size, error: (done: number) => new BlobSizeMismatchError(digest, size, done, where) } } : {}),
    ...(onBytes ? { onBytes } : {}),
  });
  try {
    await pipeline(source, meter.stream, createWriteStream(temp, { mode: 0o644 }), options.signal ? { signal: options.signal } : {});
    const done = meter.bytes();
    if (size !== undefined && done !== size) throw new BlobSizeMismatchError(digest, size, done, where);
    const actual = `sha256:${meter.digest()}`;
    if (actual !== digest) throw new BlobDigestMismatchError(digest, actual, options.where);
    await rename(temp, final);
    return final;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Stores a small blob already in memory (a manifest), verifying its digest the same way. */
export async function storeBlobBytes(cacheDir: string, digest: string, bytes: Buffer, where: string): Promise<string> {
  const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (actual !== digest) throw new BlobDigestMismatchError(digest, actual, where);
  const final = blobPath(cacheDir, digest);
  await mkdir(blobsDir(cacheDir), { recursive: true });
  await writeFileAtomic(final, bytes, 0o644);
  return final;
}

/** What the cache remembers about one pulled image (`<cacheDir>/oci/images/<manifest hex>.json`). */
export interface CachedImageRecord {
  manifestDigest: string;
  /** Every blob the image needs: index (if any), manifest, config and layers. */
  blobs: string[];
  /** References this manifest was pulled as. */
  references: string[];
  pulledAt: string;
}

/** Records (atomically) which blobs the image `manifestDigest` uses, merging the references seen before. */
export async function recordImageBlobs(cacheDir: string, record: Omit<CachedImageRecord, 'pulledAt'>): Promise<void> {
  const dir = imagesIndexDir(cacheDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${hexOf(record.manifestDigest)}.json`);
  const previous = await readImageRecord(path);
  const merged: CachedImageRecord = {
    manifestDigest: record.manifestDigest,
    blobs: [...new Set([...record.blobs])],
    references: [...new Set([...(previous?.references ?? []), ...record.references])],
    pulledAt: new Date().toISOString(),
  };
  await writeJsonAtomic(path, merged);
}

async function readImageRecord(path: string): Promise<CachedImageRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CachedImageRecord;
  } catch {
    return undefined;
  }
}

/** What `pruneBlobs` removed. */
export interface PruneResult {
  removedBlobs: string[];
  freedBytes: number;
}

/** Temp files younger than this may belong to a pull in progress and are left alone. */
const TEMP_GRACE_MS = 60 * 60 * 1000;

/**
 * Removes every cached blob not in use. `keepDigests` lists digests to keep;
 * a kept digest that is an image manifest with a record in the index keeps
 * all the blobs that image uses too, so the daemon passes just the manifest
 * digests of the images still registered. Records of images not kept are
 * dropped as well, and leftover temp files older than an hour removed.
 */
export async function pruneBlobs(cacheDir: string, keepDigests: Iterable<string>): Promise<PruneResult> {
  const keep = new Set<string>();
  for (const digest of keepDigests) {
    keep.add(digest);
    const record = /^sha256:[a-f0-9]{64}$/.test(digest) ? await readImageRecord(join(imagesIndexDir(cacheDir), `${hexOf(digest)}.json`)) : undefined;
    for (const blob of record?.blobs ?? []) keep.add(blob);
  }
  const result: PruneResult = { removedBlobs: [], freedBytes: 0 };
  const names = await readdir(blobsDir(cacheDir)).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(blobsDir(cacheDir), name);
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    if (name.includes('.tmp-')) {
      if (Date.now() - st.mtimeMs > TEMP_GRACE_MS) await rm(path, { force: true });
      continue;
    }
    const digest = `sha256:${name}`;
    if (keep.has(digest)) continue;
    await rm(path, { force: true });
    result.removedBlobs.push(digest);
    result.freedBytes += st.size;
  }
  for (const name of await readdir(imagesIndexDir(cacheDir)).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    if (!keep.has(`sha256:${name.slice(0, -'.json'.length)}`)) await rm(join(imagesIndexDir(cacheDir), name), { force: true });
  }
  return result;
}
