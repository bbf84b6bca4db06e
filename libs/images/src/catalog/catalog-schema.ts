import * as z from 'zod';

/** An `oci://` bundle reference in a catalog (parsed fully by @banger/oci when pulled). */
export const ociRefSchema = z
  .string()
  .regex(/^oci:\/\/[^\s/]+\/[^\s]+$/, 'must be oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>]');

/** A downloadable bundle: a zstd-compressed rootfs.ext4. */
export const bundleSchema = z.object({
  /** http(s) URL, file:// URL or path; relative ones are relative to the index.json that lists them. */
  url: z.string().min(1),
  /** sha256 (hex) of the compressed file at `url`. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  /** Size in bytes of the compressed file. */
  size: z.number().int().positive(),
  /** Size in bytes of the decompressed rootfs.ext4. */
  uncompressedSize: z.number().int().positive(),
  /** The image manifest published beside the bundle (relative like `url`); optional. */
  manifestUrl: z.string().min(1).optional(),
});

export const catalogEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  description: z.string(),
  version: z.string().optional(),
  bundle: bundleSchema.optional(),
  /**
   * A bundle published to an OCI registry (`image build --publish oci://…`):
   * `oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>]`. Wins over `bundle`.
   */
  oci: ociRefSchema.optional(),
  /** Built-in recipe name to build from when no bundle is reachable. */
  recipe: z.string().optional(),
  recipeHash: z.string().optional(),
  defaultKernel: z.string().optional(),
});

/** The catalog format: the embedded catalog.json and every published index.json. */
export const catalogIndexSchema = z.object({
  version: z.literal(1),
  images: z.array(catalogEntrySchema),
});

export type Bundle = z.infer<typeof bundleSchema>;
export type CatalogEntry = z.infer<typeof catalogEntrySchema>;
export type CatalogIndex = z.infer<typeof catalogIndexSchema>;
