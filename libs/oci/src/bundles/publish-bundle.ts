import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packKernelBundle, readKernelBundle } from '@banger/kernels';
import { publishImage, readManifest } from '@banger/images';
import type { ProgressSink } from '@banger/host';
import { artifactManifest, BundleArtifact, EMPTY_CONFIG, type ArtifactLayer, type BundleKind } from '../bundle-artifact.js';
import { loadDockerCredentials } from '../docker-config.js';
import { manifestSelector } from '../reference.js';
import { RegistryPushClient, type BlobSource, type RegistryPushOptions } from '../registry-push.js';
import { formatBundleRef, hasExplicitTag, parseBundleRef, versionTag } from './bundle-ref.js';

/** Where and how a bundle is pushed. */
export interface PublishBundleOptions {
  /** `oci://registry[:port]/repository[:tag]`; the tag defaults to the bundle's version. */
  reference: string;
  /** Scratch space for the compressed files (removed afterwards). */
  workDir: string;
  /** Docker config with registry credentials (default `$DOCKER_CONFIG/config.json`). */
  dockerConfigPath?: string;
  /** Plain http to a non-loopback registry. */
  insecure?: boolean;
  /** Upload tuning (tests use small values to exercise chunked uploads). */
  upload?: Pick<RegistryPushOptions, 'monolithicLimit' | 'chunkSize'>;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/** What a publish pushed: the reference with its tag, and the manifest's digest (pin it in a catalog with `@digest`). */
export interface PublishedBundle {
  reference: string;
  digest: string;
}

/**
 * Pushes the image in `imageDir` (rootfs.ext4 compressed with zstd, exactly
 * as `image publish` writes to a directory, plus manifest.json) as a banger
 * image artifact. Blobs the registry already has are not uploaded again.
 */
export async function publishImageBundle(imageDir: string, options: PublishBundleOptions): Promise<PublishedBundle> {
  const manifest = await readManifest(imageDir);
  return withScratch(options.workDir, async (scratch) => {
    const entry = await publishImage(imageDir, scratch, { ...(options.signal ? { signal: options.signal } : {}), ...(options.progress ? { progress: options.progress } : {}) });
    const bundle = entry.bundle!;
    const files: BundleFile[] = [
      {
        source: { path: join(scratch, bundle.url) },
        mediaType: BundleArtifact.layerType.rootfs,
        title: `${manifest.name}-${manifest.version}.rootfs.ext4.zst`,
        extra: { [BundleArtifact.annotation.uncompressedSize]: String(bundle.uncompressedSize) },
      },
      { source: { bytes: await readFile(join(imageDir, 'manifest.json')) }, mediaType: BundleArtifact.layerType.imageManifest, title: 'manifest.json' },
    ];
    return pushBundle('image', manifest.name, manifest.version, files, options);
  });
}

/** Pushes the kernel bundle in `kernelDir` (verified, packed as `kernel pack` does) as a banger kernel artifact. */
export async function publishKernelBundle(kernelDir: string, options: PublishBundleOptions): Promise<PublishedBundle> {
  const manifest = await readKernelBundle(kernelDir, { verify: true });
  return withScratch(options.workDir, async (scratch) => {
    options.progress?.line?.(`packing kernel ${manifest.name} ${manifest.version}`);
    const packed = await packKernelBundle(kernelDir, join(scratch, `${manifest.name}-${manifest.version}.tar.zst`), options.signal ? { signal: options.signal } : {});
    const files: BundleFile[] = [{ source: { path: packed.file }, mediaType: BundleArtifact.layerType.kernelTar, title: `${manifest.name}-${manifest.version}.tar.zst` }];
    return pushBundle('kernel', manifest.name, manifest.version, files, options);
  });
}

interface BundleFile {
  source: BlobSource;
  mediaType: string;
  title: string;
  extra?: Record<string, string>;
}

async function pushBundle(kind: BundleKind, name: string, version: string, files: BundleFile[], options: PublishBundleOptions): Promise<PublishedBundle> {
  const ref = parseBundleRef(options.reference);
  // A reference without a tag gets the bundle's version (parseReference fills in "latest" for it).
  const tag = hasExplicitTag(options.reference) ? manifestSelector(ref) : versionTag(version);
  const credentials = await loadDockerCredentials(ref.registry, options.dockerConfigPath);
  const client = new RegistryPushClient({
    registry: ref.registry,
    ...(credentials ? { credentials } : {}),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...options.upload,
  });
  const layers: ArtifactLayer[] = [];
  for (const file of files) {
    options.progress?.line?.(`pushing ${file.title} to ${ref.registry}/${ref.repository}`);
    const pushed = await client.pushBlob(ref.repository, file.source);
    options.progress?.line?.(`${file.title}: ${pushed.upload === 'exists' ? 'already in the registry' : `${pushed.upload} upload`} (${pushed.digest.slice(0, 19)}, ${pushed.size} bytes)`);
    layers.push({ mediaType: file.mediaType, digest: pushed.digest, size: pushed.size, annotations: { [BundleArtifact.annotation.title]: file.title, ...file.extra } });
  }
  await client.pushBlob(ref.repository, { bytes: EMPTY_CONFIG.bytes }, EMPTY_CONFIG.digest);
  const manifest = artifactManifest(kind, layers, {
    [BundleArtifact.annotation.name]: name,
    [BundleArtifact.annotation.version]: version,
    [BundleArtifact.annotation.created]: new Date().toISOString(),
  });
  const digest = await client.putManifest(ref.repository, tag, Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
  const reference = formatBundleRef({ registry: ref.registry, repository: ref.repository, tag, original: options.reference });
  options.progress?.line?.(`published ${kind} ${name} ${version} as ${reference}@${digest}`);
  return { reference, digest };
}

async function withScratch<T>(workDir: string, work: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(workDir, { recursive: true });
  const dir = await mkdtemp(join(workDir, 'publish-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
