import { InternalError } from '@banger/errors';

/**
 * How a banger bundle looks as an OCI artifact (docs/image-catalog.md,
 * "Bundles in an OCI registry"): an OCI image manifest with `artifactType`
 * naming the bundle kind, the empty config, one layer per bundle file with
 * its file name in `org.opencontainers.image.title`, and annotations that
 * say what it is (format version, kind, name, version, arch).
 */
export const BundleArtifact = {
  /** The bundle format these artifacts carry (bumped when the layers change meaning). */
  formatVersion: '1',
  artifactType: {
    image: 'application/vnd.banger.image.bundle.v1',
    kernel: 'application/vnd.banger.kernel.bundle.v1',
  },
  layerType: {
    /** An image's rootfs.ext4, zstd-compressed (what `image publish` writes to a directory). */
    rootfs: 'application/vnd.banger.image.rootfs.ext4+zstd',
    /** An image's manifest.json. */
    imageManifest: 'application/vnd.banger.image.manifest.v1+json',
    /** A kernel bundle as `banger kernel pack` writes it: a zstd tar of the bundle's files. */
    kernelTar: 'application/vnd.banger.kernel.bundle.v1.tar+zstd',
  },
  annotation: {
    format: 'dev.banger.bundle.format',
    kind: 'dev.banger.bundle.kind',
    name: 'dev.banger.bundle.name',
    version: 'dev.banger.bundle.version',
    arch: 'dev.banger.bundle.arch',
    /** On the rootfs layer: the size of the decompressed rootfs.ext4. */
    uncompressedSize: 'dev.banger.bundle.uncompressed-size',
    title: 'org.opencontainers.image.title',
    created: 'org.opencontainers.image.created',
  },
} as const;

/** What kind of bundle an artifact carries. */
export type BundleKind = keyof typeof BundleArtifact.artifactType;

/** The OCI empty descriptor's blob (`{}`), the config of every banger artifact. */
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
  bytes: Buffer.from('{}'),
} as const;

/** One layer of a bundle artifact as the manifest lists it. */
export interface ArtifactLayer {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

/** A bundle artifact's manifest, as built and as read back. */
export interface ArtifactManifest {
  schemaVersion: 2;
  mediaType: 'application/vnd.oci.image.manifest.v1+json';
  artifactType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: ArtifactLayer[];
  annotations: Record<string, string>;
}

/** Builds the manifest of a bundle artifact: `kind`'s artifactType, the empty config, `layers` in order. */
export function artifactManifest(kind: BundleKind, layers: ArtifactLayer[], annotations: Record<string, string>): ArtifactManifest {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: BundleArtifact.artifactType[kind],
    config: { mediaType: EMPTY_CONFIG.mediaType, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.size },
    layers,
    annotations: {
      [BundleArtifact.annotation.format]: BundleArtifact.formatVersion,
      [BundleArtifact.annotation.kind]: kind,
      [BundleArtifact.annotation.arch]: 'x86_64',
      ...annotations,
    },
  };
}

/**
 * Checks a fetched manifest is a banger bundle of `kind` in a format this
 * banger reads, and returns it typed. `where` names the reference in errors.
 */
export function parseArtifactManifest(body: Buffer, kind: BundleKind, where: string): ArtifactManifest {
  let json: Partial<ArtifactManifest>;
  try {
    json = JSON.parse(body.toString('utf8')) as Partial<ArtifactManifest>;
  } catch (error) {
    throw notABundle(where, `its manifest is not JSON (${(error as Error).message})`);
  }
  const type = json.artifactType ?? json.config?.mediaType;
  if (type !== BundleArtifact.artifactType[kind]) {
    throw notABundle(where, `its artifact type is ${type ?? 'missing'}, a banger ${kind} bundle is ${BundleArtifact.artifactType[kind]}`);
  }
  const format = json.annotations?.[BundleArtifact.annotation.format];
  if (format !== BundleArtifact.formatVersion) {
    throw notABundle(where, `it is in bundle format ${format ?? 'unknown'}, this banger reads format ${BundleArtifact.formatVersion}`);
  }
  if (!Array.isArray(json.layers)) throw notABundle(where, 'its manifest has no layers');
  for (const [i, layer] of json.layers.entries()) {
    if (typeof layer?.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(layer.digest) || !Number.isSafeInteger(layer.size) || layer.size < 0) {
      throw notABundle(where, `layers[${i}] has no valid sha256 digest and size`);
    }
  }
  return json as ArtifactManifest;
}

/** The one layer of `mediaType` in an artifact, or an error naming the reference. */
export function artifactLayer(manifest: ArtifactManifest, mediaType: string, where: string): ArtifactLayer {
  const layer = manifest.layers.find((l) => l.mediaType === mediaType);
  if (!layer) throw notABundle(where, `it has no ${mediaType} layer`);
  return layer;
}

function notABundle(where: string, why: string): InternalError {
  return new InternalError('OCI_NOT_A_BUNDLE', `${where} is not a banger bundle: ${why}`, {
    hint: 'publish it with banger image build --publish oci://… (or kernel build --publish), or fix the catalog entry',
  });
}
