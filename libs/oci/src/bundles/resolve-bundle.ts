import type { CatalogEntry } from '@banger/images';
import type { KernelCatalogEntry } from '@banger/kernels';
import { UserError } from '@banger/errors';
import { artifactLayer, BundleArtifact, parseArtifactManifest, type ArtifactLayer, type BundleKind } from '../bundle-artifact.js';
import { loadDockerCredentials } from '../docker-config.js';
import { manifestSelector } from '../reference.js';
import { RegistryClient } from '../registry-client.js';
import { parseBundleRef } from './bundle-ref.js';

/** How a catalog's `oci` reference is resolved. */
export interface ResolveBundleOptions {
  signal?: AbortSignal;
  /** Docker config with registry credentials (default `$DOCKER_CONFIG/config.json`). */
  dockerConfigPath?: string;
}

/** A catalog entry with its `oci://` reference resolved: `bundle` names registry blobs, `headers` authorise fetching them. */
export interface ResolvedBundleEntry<E> {
  entry: E;
  headers?: Record<string, string>;
}

/** A resolved artifact: its manifest's digest, its annotations and the blob URL of each layer. */
interface ResolvedArtifact {
  manifestDigest: string;
  headers?: Record<string, string>;
  annotations: Record<string, string>;
  blobUrl: (layer: ArtifactLayer) => string;
  layer: (mediaType: string) => ArtifactLayer;
}

/**
 * Turns an image catalog entry naming `oci://…` into one with a `bundle` the
 * ordinary pull downloads: the rootfs layer's blob URL with the layer's
 * digest as its sha256 (so the download resumes with Range and is verified
 * exactly as an http bundle is) and the manifest.json layer as manifestUrl.
 * The artifact manifest itself is verified against its digest (a pinned
 * `@sha256:` or the registry's Docker-Content-Digest) and must be a banger
 * image bundle of this format.
 */
export async function resolveImageEntry(entry: CatalogEntry, options: ResolveBundleOptions = {}): Promise<ResolvedBundleEntry<CatalogEntry>> {
  if (!entry.oci) return { entry };
  const artifact = await resolveArtifact(entry.oci, 'image', options);
  const rootfs = artifact.layer(BundleArtifact.layerType.rootfs);
  const manifest = artifact.layer(BundleArtifact.layerType.imageManifest);
  const uncompressedSize = Number(rootfs.annotations?.[BundleArtifact.annotation.uncompressedSize]);
  if (!Number.isSafeInteger(uncompressedSize) || uncompressedSize <= 0) {
    throw new UserError('OCI_NOT_A_BUNDLE', `${entry.oci} is not a banger bundle: its rootfs layer has no ${BundleArtifact.annotation.uncompressedSize} annotation`, {
      hint: 'publish it again with banger image build --publish',
    });
  }
  const version = artifact.annotations[BundleArtifact.annotation.version];
  return {
    entry: {
      ...entry,
      ...(version ? { version } : {}),
      bundle: { url: artifact.blobUrl(rootfs), sha256: hexOf(rootfs.digest), size: rootfs.size, uncompressedSize, manifestUrl: artifact.blobUrl(manifest) },
    },
    ...(artifact.headers ? { headers: artifact.headers } : {}),
  };
}

/** The same for a kernel catalog entry: its tar.zst layer becomes the entry's `bundle`. */
export async function resolveKernelEntry(entry: KernelCatalogEntry, options: ResolveBundleOptions = {}): Promise<ResolvedBundleEntry<KernelCatalogEntry>> {
  if (!entry.oci) return { entry };
  const artifact = await resolveArtifact(entry.oci, 'kernel', options);
  const tar = artifact.layer(BundleArtifact.layerType.kernelTar);
  return { entry: { ...entry, bundle: { url: artifact.blobUrl(tar), sha256: hexOf(tar.digest) } }, ...(artifact.headers ? { headers: artifact.headers } : {}) };
}

async function resolveArtifact(reference: string, kind: BundleKind, options: ResolveBundleOptions): Promise<ResolvedArtifact> {
  const ref = parseBundleRef(reference);
  const credentials = await loadDockerCredentials(ref.registry, options.dockerConfigPath);
  const client = new RegistryClient({ registry: ref.registry, ...(credentials ? { credentials } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  const fetched = await client.getManifest(ref.repository, manifestSelector(ref));
  const manifest = parseArtifactManifest(fetched.body, kind, reference);
  // The blobs are fetched by the host's resumable download, which gets the token (or Basic
  // credentials) the manifest request earned; fetch drops it on a redirect to another origin (a CDN).
  const authorization = await client.pullAuthorization(ref.repository);
  return {
    manifestDigest: fetched.digest,
    ...(authorization ? { headers: { authorization } } : {}),
    annotations: manifest.annotations ?? {},
    blobUrl: (layer) => `${client.baseUrl}/v2/${ref.repository}/blobs/${layer.digest}`,
    layer: (mediaType) => artifactLayer(manifest, mediaType, reference),
  };
}

const hexOf = (digest: string): string => digest.slice('sha256:'.length);
