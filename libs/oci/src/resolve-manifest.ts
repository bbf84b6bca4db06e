import { readFile } from 'node:fs/promises';
import { blobPath, hasBlob, storeBlobBytes } from './blob-cache.js';
import { parseManifest, type ImageIndex, type ImageManifest } from './manifest.js';
import type { RegistryClient } from './registry-client.js';

/**
 * A manifest (or index) by tag or digest, from the cache when possible: a
 * pinned digest already cached needs no request at all; a tag costs one HEAD
 * to learn its current digest, and a GET only when that digest is new.
 */
export async function resolveManifestBlob(
  client: RegistryClient,
  cacheDir: string,
  repository: string,
  selector: string,
  where: string,
): Promise<{ digest: string; manifest: ImageManifest | ImageIndex }> {
  let digest = selector.startsWith('sha256:') ? selector : undefined;
  if (!digest) digest = await client.headManifest(repository, selector);
  if (digest && (await hasBlob(cacheDir, digest))) {
    const body = await readFile(blobPath(cacheDir, digest));
    return { digest, manifest: parseManifest(body, null, where) };
  }
  const fetched = await client.getManifest(repository, selector);
  await storeBlobBytes(cacheDir, fetched.digest, fetched.body, where);
  return { digest: fetched.digest, manifest: parseManifest(fetched.body, fetched.contentType, where) };
}
