import { InternalError, NotFoundError } from '@banger/errors';

/** The manifest media types banger understands, in the order sent in `Accept`. */
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** `Accept` header for manifest requests: every single-image and multi-platform type. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');

/** A content descriptor: what a manifest says about a blob. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** An OS/architecture pair from an index or a config. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A single-platform image manifest (OCI or Docker schema 2). */
export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A multi-platform index (OCI image index or Docker manifest list). */
export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function badManifest(where: string, why: string): InternalError {
  return new InternalError('OCI_MANIFEST_INVALID', `manifest ${where} is invalid: ${why}`, {
    hint: 'the registry served something that is not an OCI/Docker v2 manifest; check the reference',
  });
}

function descriptor(value: unknown, where: string, field: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw badManifest(where, `${field} is not an object`);
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw badManifest(where, `${field}.digest "${String(d.digest)}" is not a sha256 digest (only sha256 is supported)`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw badManifest(where, `${field}.size is not a non-negative integer`);
  return { ...d, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size } as Descriptor;
}

/**
 * Parses a manifest body served with `contentType` (the header, or the body's
 * own `mediaType`). Docker schema 1 and unknown types are rejected with an
 * error naming `where` (the reference or digest).
 */
export function parseManifest(body: Buffer, contentType: string | null, where: string): ImageManifest | ImageIndex {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw badManifest(where, `not JSON (${(error as Error).message})`);
  }
  const type = (typeof json['mediaType'] === 'string' ? (json['mediaType'] as string) : '') || (contentType ?? '').split(';')[0]!.trim();
  if (json['schemaVersion'] === 1 || type.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw badManifest(where, 'Docker schema 1 manifests are not supported');
  }
  if (Array.isArray(json['manifests'])) {
    return {
      kind: 'index',
      mediaType: type || MediaType.ociIndex,
      manifests: (json['manifests'] as unknown[]).map((m, i) => descriptor(m, where, `manifests[${i}]`)),
    };
  }
  if (json['config'] !== undefined && Array.isArray(json['layers'])) {
    return {
      kind: 'manifest',
      mediaType: type || MediaType.ociManifest,
      config: descriptor(json['config'], where, 'config'),
      layers: (json['layers'] as unknown[]).map((l, i) => descriptor(l, where, `layers[${i}]`)),
    };
  }
  throw badManifest(where, `media type "${type || 'none'}" has neither manifests nor config+layers`);
}

export const formatPlatform = (p: Platform | undefined): string =>
  p ? `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}` : 'unknown';

/**
 * Picks the manifest for `wanted` (default linux/amd64) from an index.
 * Attestation entries (`unknown/unknown`) are ignored. Throws a NotFoundError
 * listing the platforms that are available.
 */
export function selectPlatform(index: ImageIndex, where: string, wanted: Platform = { os: 'linux', architecture: 'amd64' }): Descriptor {
  const match = index.manifests.find(
    (m) => m.platform?.os === wanted.os && m.platform.architecture === wanted.architecture && (!wanted.variant || m.platform.variant === wanted.variant),
  );
  if (match) return match;
  const available = index.manifests.map((m) => formatPlatform(m.platform)).filter((p) => p !== 'unknown/unknown' && p !== 'unknown');
  throw new NotFoundError('OCI_PLATFORM_NOT_FOUND', `image ${where} has no ${formatPlatform(wanted)} manifest (available: ${available.join(', ') || 'none'})`, {
    hint: 'banger VMs are x86_64; use an image built for linux/amd64',
  });
}
