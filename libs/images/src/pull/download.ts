import { join } from 'node:path';
import { InternalError } from '@banger/errors';
import { downloadResumable, type ProgressSink } from '@banger/host';

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
  /** Request headers (a registry's Authorization for an `oci://` entry's blob). */
  headers?: Record<string, string>;
}

/**
 * Downloads a bundle into `<cacheDir>/downloads/<sha256>.zst` and returns its
 * path (the host toolkit's resumable, verified download: Range resume within
 * this call or the next, file:// URLs for a catalog in a local directory).
 * On a sha256 or size mismatch the partial is discarded and a
 * BUNDLE_CHECKSUM_MISMATCH error thrown.
 */
export function downloadBundle(options: DownloadOptions): Promise<string> {
  const { url, sha256, size } = options;
  return downloadResumable({
    url,
    target: join(options.cacheDir, 'downloads', `${sha256}.zst`),
    sha256,
    size,
    attempts: options.attempts ?? 5,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    errors: {
      unreachable: (why, cause) => new BundleUnreachableError(url, why, cause),
      failed: (why, cause) =>
        new InternalError('BUNDLE_DOWNLOAD_FAILED', `bundle ${url}: download failed: ${why}`, { hint: 'run the pull again: it resumes where it stopped', cause }),
      mismatch: (actual) =>
        new InternalError('BUNDLE_CHECKSUM_MISMATCH', `bundle ${url}: sha256 is ${actual.sha256} (${actual.size} bytes), the catalog says ${sha256} (${size} bytes); discarded`, {
          hint: 'the bundle or the catalog is corrupt or was replaced; republish it or pull again',
        }),
    },
  });
}
