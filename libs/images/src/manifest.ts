import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { InternalError, NotFoundError } from '@banger/errors';

/** File name of the root filesystem inside an image dir. */
export const ROOTFS_FILE = 'rootfs.ext4';
/** File name of the /root skeleton tarball the VM layer unpacks onto a fresh work disk. */
export const ROOT_SKEL_FILE = 'root-skel.tar';
/** File name of the manifest inside an image dir. */
export const MANIFEST_FILE = 'manifest.json';

const fileEntrySchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() });

export const imageManifestSchema = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  /** recipeFingerprint() of the recipe that built it; absent for registered rootfs files. */
  recipeHash: z.string().optional(),
  /** Logical size of rootfs.ext4 in bytes (the file is sparse: less is allocated). */
  sizeBytes: z.number().int().positive(),
  files: z.record(z.string(), fileEntrySchema).refine((f) => ROOTFS_FILE in f, `must list ${ROOTFS_FILE}`),
  defaultKernel: z.string().min(1),
  /** Installed Debian packages as `name=version` (empty when unknown). */
  packages: z.array(z.string()),
  /** ISO 8601 build (or registration) time. */
  builtAt: z.string(),
  /** Where the image came from: `recipe:<name>`, a bundle URL, or `register:<path>`. */
  source: z.string().optional(),
});

/**
 * manifest.json of an image dir. `files` always has `rootfs.ext4`, and
 * `root-skel.tar` when the image carries a /root skeleton.
 */
export type ImageManifest = z.infer<typeof imageManifestSchema>;

/** Reads and validates `<imageDir>/manifest.json`. */
export async function readManifest(imageDir: string): Promise<ImageManifest> {
  const path = join(imageDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new NotFoundError('IMAGE_MANIFEST_MISSING', `image manifest ${path}: not found`, { cause: error });
  }
  return parseManifest(text, path);
}

export function parseManifest(text: string, source: string): ImageManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InternalError('IMAGE_MANIFEST_INVALID', `image manifest ${source}: not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const result = imageManifestSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new InternalError('IMAGE_MANIFEST_INVALID', `image manifest ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return result.data;
}
