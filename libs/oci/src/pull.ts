import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CancelledError, UserError } from '@banger/errors';
import type { ProgressSink } from '@banger/host';
import { applyLayers, type ApplyLayersOptions } from './apply-layers.js';
import { blobPath, hasBlob, recordImageBlobs } from './blob-cache.js';
import { fetchBlobs } from './fetch-blobs.js';
import { resolveManifestBlob } from './resolve-manifest.js';
import { loadDockerCredentials } from './docker-config.js';
import { assertAmd64, parseImageConfig, type ImageConfig } from './image-config.js';
import { makeExt4FromTree } from './make-ext4.js';
import { selectPlatform, type ImageManifest, type Platform } from './manifest.js';
import { distroFamily, readOsRelease, type OsRelease } from './os-release.js';
import { assertBootable, checkBootable, provisionTree, writeGuestContract } from './provision.js';
import { formatReference, manifestSelector, parseReference } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { assertNothingMounted } from './mounts.js';

/** Options of pullOciImage. */
export interface PullOciImageOptions {
  /** `registry/repo:tag`, `repo@sha256:…`, or a Docker Hub short name. */
  reference: string;
  /** Root of banger's cache (`~/.cache/banger`): blobs go to `<cacheDir>/oci/blobs/sha256/`. */
  cacheDir: string;
  /** Scratch space for the unpacked tree (a private temp dir is made inside and removed after). */
  workDir: string;
  /** Where the finished ext4 rootfs goes (written to a temp name beside it, then renamed). */
  outRootfs: string;
  /** Allow plain http for a non-loopback registry. */
  insecure?: boolean;
  /**
   * Install an init, udev, kmod, sshd and iproute2 with the image's package
   * manager. Default: when the distribution is known (Debian/Ubuntu, Alpine,
   * Fedora) and the image lacks an init or sshd. `true` always provisions
   * (and fails for an unknown distribution); `false` never runs the image's
   * code and refuses an image that cannot boot.
   */
  provision?: boolean;
  /** Docker config with registry credentials. Default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
  dockerConfigPath?: string;
  /** Layers downloaded at once. Default 3. */
  concurrency?: number;
  /** Tar-bomb limits for unpacking. */
  limits?: Pick<ApplyLayersOptions, 'maxBytes' | 'maxEntries'>;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/** One layer of the pulled image. */
export interface PulledLayer {
  digest: string;
  size: number;
  mediaType: string;
  /** True when it came from the cache rather than the network. */
  cached: boolean;
}

/** The outcome of pullOciImage: what the daemon records for the new image. */
export interface PullOciImageResult {
  rootfsPath: string;
  /** Size of the rootfs image file in bytes (apparent size; the file is sparse). */
  rootfsBytes: number;
  /** The normalised reference, e.g. `docker.io/library/debian:bookworm`. */
  reference: string;
  /** Digest of the single-platform manifest: the image's identity, and the key `pruneBlobs` keeps. */
  manifestDigest: string;
  /** Digest of the index / manifest list the platform was chosen from, when there was one. */
  indexDigest?: string;
  configDigest: string;
  platform: Platform;
  layers: PulledLayer[];
  /** The image config's process settings (for information: a VM boots /sbin/init). */
  config: Pick<ImageConfig, 'env' | 'entrypoint' | 'cmd' | 'workingDir' | 'user'>;
  osRelease?: OsRelease;
  provisioned: boolean;
  /** Things skipped on purpose while unpacking (device nodes without root, xattrs…). */
  warnings: string[];
}

const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

/**
 * Pulls an OCI/Docker image and turns it into a bootable ext4 rootfs:
 * resolves the reference (an index → linux/amd64), downloads missing blobs
 * into the content-addressed cache (verified while streaming, a few at a
 * time), flattens the layers safely, provisions or checks the tree, writes
 * banger's guest contract into it, and builds the ext4 at `outRootfs`.
 * Nothing is left at `outRootfs` or in `workDir` when it fails or is
 * cancelled; verified blobs stay cached for the next attempt.
 */
export async function pullOciImage(options: PullOciImageOptions): Promise<PullOciImageResult> {
  const ref = parseReference(options.reference);
  const shown = formatReference(ref);
  const progress = options.progress;
  const credentials = await loadDockerCredentials(ref.registry, options.dockerConfigPath);
  const client = new RegistryClient({
    registry: ref.registry,
    ...(options.insecure ? { insecure: true } : {}),
    ...(credentials ? { credentials } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const checkCancel = () => {
    if (options.signal?.aborted) throw new CancelledError(`pull ${shown}: cancelled`);
  };

  progress?.line?.(`resolving ${shown}`);
  const top = await resolveManifestBlob(client, options.cacheDir, ref.repository, manifestSelector(ref), shown);
  let manifestDigest = top.digest;
  let indexDigest: string | undefined;
  let parsed = top.manifest;
  if (parsed.kind === 'index') {
    indexDigest = top.digest;
    const chosen = selectPlatform(parsed, shown);
    const inner = await resolveManifestBlob(client, options.cacheDir, ref.repository, chosen.digest, `${shown}@${chosen.digest}`);
    if (inner.manifest.kind !== 'manifest') throw new UserError('OCI_MANIFEST_INVALID', `image ${shown}: the linux/amd64 entry of the index is itself an index`);
    manifestDigest = inner.digest;
    parsed = inner.manifest;
  }
  const manifest: ImageManifest = parsed;
  for (const layer of manifest.layers) {
    if (!LAYER_TYPES.has(layer.mediaType)) {
      throw new UserError('OCI_LAYER_UNSUPPORTED', `image ${shown}: layer ${layer.digest} has media type "${layer.mediaType}", which banger cannot unpack`, {
        hint: 'only tar, tar+gzip and tar+zstd layers are supported (no foreign/Windows layers, no artifacts)',
      });
    }
  }

  checkCancel();
  await fetchBlobs(client, options.cacheDir, ref.repository, [manifest.config], shown, 1, undefined, options.signal);
  const config = parseImageConfig(await readFile(blobPath(options.cacheDir, manifest.config.digest)), shown);
  if (!indexDigest) assertAmd64(config, shown);
  if (config.diffIds.length && config.diffIds.length !== manifest.layers.length) {
    throw new UserError('OCI_MANIFEST_INVALID', `image ${shown}: the manifest lists ${manifest.layers.length} layers but the config ${config.diffIds.length}`);
  }

  const cachedBefore = new Set<string>();
  for (const layer of manifest.layers) if (await hasBlob(options.cacheDir, layer.digest, layer.size)) cachedBefore.add(layer.digest);
  await fetchBlobs(client, options.cacheDir, ref.repository, manifest.layers, shown, options.concurrency ?? 3, progress, options.signal);

  checkCancel();
  await mkdir(options.workDir, { recursive: true });
  // mkdtemp makes the directory 0700: the tree holds setuid files and device nodes exactly as the image has them
  const scratch = await mkdtemp(join(options.workDir, 'oci-unpack-'));
  const root = join(scratch, 'rootfs');
  try {
    await mkdir(root, { mode: 0o755 });
    const applied = await applyLayers(
      manifest.layers.map((l, i) => ({ path: blobPath(options.cacheDir, l.digest), digest: l.digest, ...(config.diffIds[i] ? { diffId: config.diffIds[i] } : {}) })),
      root,
      { ...options.limits, ...(progress ? { progress } : {}), ...(options.signal ? { signal: options.signal } : {}) },
    );
    for (const warning of applied.warnings) progress?.line?.(`warning: ${warning}`);

    const osRelease = await readOsRelease(root);
    const family = osRelease && distroFamily(osRelease);
    const before = await checkBootable(root);
    const needs = !before.init || !before.sshd;
    let provisioned = false;
    // true: always (e.g. to add udev/iproute2 to an image that has an init); undefined: when something is missing
    const wanted = options.provision === true || (options.provision === undefined && needs);
    if (wanted && family) {
      checkCancel();
      await provisionTree(root, family, { ...(options.signal ? { signal: options.signal } : {}), ...(progress ? { progress } : {}) });
      provisioned = true;
    } else if (options.provision === true) {
      throw new UserError('OCI_PROVISION_UNSUPPORTED', `cannot provision ${shown}: ${osRelease ? `distribution "${osRelease.id}" is not supported` : 'it has no /etc/os-release'}`, {
        hint: 'provisioning supports Debian/Ubuntu (apt), Alpine (apk) and Fedora (dnf); use an image that has an init and sshd, without --provision',
      });
    }
    assertBootable(await checkBootable(root), shown, osRelease);
    await writeGuestContract(root);

    checkCancel();
    await mkdir(dirname(options.outRootfs), { recursive: true });
    const rootfsBytes = await makeExt4FromTree(root, options.outRootfs, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(progress ? { progress } : {}),
    });
    await recordImageBlobs(options.cacheDir, {
      manifestDigest,
      blobs: [...(indexDigest ? [indexDigest] : []), manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)],
      references: [shown],
    });
    return {
      rootfsPath: options.outRootfs,
      rootfsBytes,
      reference: shown,
      manifestDigest,
      ...(indexDigest ? { indexDigest } : {}),
      configDigest: manifest.config.digest,
      platform: config.platform,
      layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType, cached: cachedBefore.has(l.digest) })),
      config: {
        env: config.env,
        entrypoint: config.entrypoint,
        cmd: config.cmd,
        ...(config.workingDir ? { workingDir: config.workingDir } : {}),
        ...(config.user ? { user: config.user } : {}),
      },
      ...(osRelease ? { osRelease } : {}),
      provisioned,
      warnings: applied.warnings,
    };
  } finally {
    await assertNothingMounted(scratch);
    await rm(scratch, { recursive: true, force: true });
  }
}
