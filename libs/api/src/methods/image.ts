import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { StepEventSchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';
import { planSummarySchema } from './kernel.js';

/**
 * Where an image pulled from an OCI registry came from (`image pull <reference>`).
 * The manifest digest is the image's identity: a re-pull whose tag still
 * points at it is a no-op, and `image prune` keeps the cached blobs it uses.
 */
export const ociSourceSchema = lazySchema(() => z.object({
  /** The normalised reference it was pulled as: `docker.io/library/debian:bookworm`. */
  reference: z.string(),
  /** Digest of the linux/amd64 image manifest. */
  manifestDigest: z.string(),
  /** Digest of the index / manifest list the platform was chosen from, when there was one. */
  indexDigest: z.string().optional(),
  configDigest: z.string(),
  /** Whether banger installed an init/sshd with the image's package manager. */
  provisioned: z.boolean(),
}));
export type OciSource = z.infer<typeof ociSourceSchema>;

/**
 * How `banger image pull <arg>` tells a catalog name from an OCI reference:
 * catalog (and all banger image) names match `[a-z0-9][a-z0-9._-]*`, so they
 * never contain `/`, `:` or `@`; anything that does is an OCI reference
 * (`debian:bookworm`, `docker.io/library/debian`, `127.0.0.1:5000/team/tools@sha256:…`).
 * A bare word such as `debian` is therefore always a catalog name: write
 * `debian:latest` for Docker Hub's.
 */
export function isOciReference(arg: string): boolean {
  return /[/:@]/.test(arg);
}

/** A registered image, as `image list`/`image show` print it. */
export const imageInfoSchema = lazySchema(() => z.object({
  name: z.string(),
  version: z.string(),
  /** The image directory (rootfs.ext4, root-skel.tar, manifest.json). */
  dir: z.string(),
  rootfsPath: z.string(),
  /** Logical size of rootfs.ext4 (the file is sparse). */
  sizeBytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** Kernel VMs from this image boot by default. */
  kernel: z.string().nullable(),
  /** Where it came from: `recipe:<name>`, a bundle URL, `register:<path>`, or `oci:<reference>`. */
  origin: z.string(),
  /** Fingerprint of the recipe that built it, when built from one. */
  recipeHash: z.string().optional(),
  /** Installed Debian packages (`name=version`), when known. */
  packageCount: z.number().int().nonnegative(),
  /** ISO 8601 build (or registration) time from the manifest. */
  builtAt: z.string(),
  /** ISO 8601 time it was registered here. */
  registeredAt: z.string(),
  /** Names of the VMs made from it (they block `image rm`). */
  usedBy: z.array(z.string()),
  /** Set for images pulled from an OCI registry. */
  oci: ociSourceSchema.optional(),
  /** Its warm templates (`image show` only): one per kernel, agent and VM size, with their disk use. */
  warmTemplates: z
    .array(z.object({ fingerprint: z.string(), vcpu: z.number(), memoryMib: z.number(), diskBytes: z.number(), kernel: z.string(), bytes: z.number(), createdAt: z.string(), dir: z.string() }))
    .optional(),
}));
export type ImageInfo = z.infer<typeof imageInfoSchema>;

/** One image catalog entry, with whether it is registered here. */
export const imageCatalogEntrySchema = lazySchema(() => z.object({
  name: z.string(),
  description: z.string(),
  version: z.string().optional(),
  recipe: z.string().optional(),
  bundle: z.object({ url: z.string(), sha256: z.string(), size: z.number(), uncompressedSize: z.number() }).optional(),
  /** An `oci://` bundle reference (pulled from a registry; wins over `bundle`). */
  oci: z.string().optional(),
  defaultKernel: z.string().optional(),
  installed: z.boolean(),
}));
export type ImageCatalogEntryWire = z.infer<typeof imageCatalogEntrySchema>;

const nameParam = lazySchema(() => z.string().min(1).max(200));

/** `banger image …`: golden images, the catalog, recipe builds and local rootfs registration. */
export const imageMethods = {
  'image.list': defineMethod(() => ({
    description: 'Lists the registered images, sorted by name.',
    params: z.object({}).optional(),
    result: z.array(imageInfoSchema),
  })),
  'image.show': defineMethod(() => ({
    description: 'Shows one registered image.',
    params: z.object({ name: nameParam }),
    result: imageInfoSchema,
  })),
  'image.catalog': defineMethod(() => ({
    description: 'Lists the image catalog: the embedded entries overlaid by config catalog_url.',
    params: z.object({}).optional(),
    result: z.object({ entries: z.array(imageCatalogEntrySchema), source: z.string().optional(), warnings: z.array(z.string()) }),
  })),
  'image.pull': defineMethod(() => ({
    description: 'Downloads a catalog image bundle (or builds it from its recipe when none is reachable) and registers it; streams task-graph events.',
    params: z.object({ name: nameParam, explain: z.boolean().optional() }),
    result: z.object({ plan: planSummarySchema.optional(), image: imageInfoSchema.optional(), warnings: z.array(z.string()) }),
    event: StepEventSchema,
  })),
  'image.pull-oci': defineMethod(() => ({
    description:
      'Pulls an OCI/Docker image (registry/repo:tag or @sha256:…) into a bootable image: fetch + verify + flatten + provision + mkfs, then registers it; streams task-graph events. A re-pull whose manifest digest is unchanged skips every step.',
    params: z.object({
      reference: z.string().min(1).max(512),
      /** Image name; default derived from the reference (`imageNameForReference`). */
      name: nameParam.optional(),
      /** Allow plain http for a non-loopback registry. */
      insecure: z.boolean().optional(),
      /** true: always provision; false: never run the image's code; unset: provision known distributions that lack an init or sshd. */
      provision: z.boolean().optional(),
      explain: z.boolean().optional(),
    }),
    result: z.object({
      plan: planSummarySchema.optional(),
      image: imageInfoSchema.optional(),
      /** Things skipped while unpacking (device nodes, xattrs…), and kernel notes. */
      warnings: z.array(z.string()),
    }),
    event: StepEventSchema,
  })),
  'image.prune': defineMethod(() => ({
    description: 'Deletes the cached OCI blobs no registered image uses (and stale temp files), and the warm templates no new VM can use; refused while an OCI pull runs.',
    params: z.object({}).optional(),
    result: z.object({
      /** Digests of the blobs deleted. */
      removedBlobs: z.array(z.string()),
      freedBytes: z.number().int().nonnegative(),
      /** Names of the registered OCI images whose blobs were kept. */
      keptImages: z.array(z.string()),
      /** The blob cache directory. */
      cacheDir: z.string(),
      /** Warm templates removed (`<image>/<fingerprint>`: image gone or replaced, agent runtime gone) and the bytes freed. */
      removedTemplates: z.array(z.string()).optional(),
      templateFreedBytes: z.number().int().nonnegative().optional(),
    }),
  })),
  'image.build': defineMethod(() => ({
    description: 'Builds an image from a recipe (built-in name or absolute .toml path), registers it, optionally publishes it (absolute directory, or oci://registry/repo[:tag]); streams task-graph events.',
    params: z.object({ recipe: z.string().min(1), publish: z.string().min(1).optional(), explain: z.boolean().optional() }),
    result: z.object({
      plan: planSummarySchema.optional(),
      image: imageInfoSchema.optional(),
      /** Where `publish` put the bundle: index.json and bundle file for a directory, reference and manifest digest for oci://. */
      published: z.object({ index: z.string().optional(), bundle: z.string().optional(), reference: z.string().optional(), digest: z.string().optional() }).optional(),
    }),
    event: StepEventSchema,
  })),
  'image.register': defineMethod(() => ({
    description: 'Registers a local ext4 rootfs file (copied) as an image; returns warnings such as a missing sshd.',
    params: z.object({ name: nameParam, rootfs: z.string().min(1), kernel: nameParam.optional() }),
    result: z.object({ image: imageInfoSchema, warnings: z.array(z.string()) }),
  })),
  'image.publish': defineMethod(() => ({
    description: 'Pushes a registered image to an OCI registry as a banger bundle artifact (oci://registry[:port]/repository[:tag]); streams task-graph events.',
    params: z.object({ name: nameParam, reference: z.string().regex(/^oci:\/\//, 'must be an oci:// reference'), explain: z.boolean().optional() }),
    result: z.object({ plan: planSummarySchema.optional(), published: z.object({ reference: z.string(), digest: z.string() }).optional() }),
    event: StepEventSchema,
  })),
  'image.rm': defineMethod(() => ({
    description: 'Removes an image (directory and record); refused while a VM uses it.',
    params: z.object({ name: nameParam }),
    result: z.object({ name: z.string(), dir: z.string() }),
  })),
};
