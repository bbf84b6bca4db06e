import { imageOciOrigin, type ImageHome } from '@banger/images';
import { blobsDir, pruneBlobs } from './blob-cache.js';
import { asOciPrune } from './oci-cache-gate.js';

/** What `image prune` removed and kept. */
export interface ImageBlobsPruneResult {
  /** Digests of the blobs deleted. */
  removedBlobs: string[];
  freedBytes: number;
  /** The registered OCI images whose blobs were kept. */
  keptImages: string[];
  /** The blob directory pruned. */
  cacheDir: string;
}

/**
 * `image prune`: deletes cached OCI blobs that no registered image uses,
 * keeping every blob listed for the manifest digests of the registered OCI
 * images (`pruneBlobs`). Refused (`IMAGE_PRUNE_BUSY`) while an OCI pull runs.
 */
export async function pruneImageBlobs(home: Pick<ImageHome, 'cacheDir' | 'table'>): Promise<ImageBlobsPruneResult> {
  return asOciPrune(async () => {
    const keep: string[] = [];
    const keptImages: string[] = [];
    for (const row of home.table.all()) {
      const oci = imageOciOrigin(row);
      if (!oci?.manifestDigest) continue;
      keptImages.push(row.name);
      keep.push(oci.manifestDigest, ...(oci.indexDigest ? [oci.indexDigest] : []));
    }
    const result = await pruneBlobs(home.cacheDir, keep);
    return { removedBlobs: result.removedBlobs, freedBytes: result.freedBytes, keptImages, cacheDir: blobsDir(home.cacheDir) };
  });
}
