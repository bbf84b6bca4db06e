import type { ImageInfo } from '@banger/api';
import { NotFoundError } from '@banger/errors';
import { ImagesTable, type Database, type ImageRow } from '@banger/store';
import type { ImageOciOrigin, ImageSource } from './image-home.js';

export type { ImageRow };

/** The `source` column as read back: any JSON, since rows written by other code paths (older versions) may carry other fields. */
type StoredSource = Partial<Record<keyof ImageSource, unknown>>;

/** The `images` table plus what `image show` adds to a row: the one reader of its `source` JSON. */
export class ImageRecords extends ImagesTable {
  constructor(db: Database) {
    super(db);
  }

  /** The row of image `name`, else a NotFoundError listing the registered ones. */
  get(name: string): ImageRow {
    const row = this.find(name);
    if (!row) {
      const known = this.names();
      throw new NotFoundError('IMAGE_NOT_FOUND', `image ${name} is not registered${known.length ? ` (registered: ${known.join(', ')})` : ''}`, {
        hint: `pull it with banger image pull ${name}, or see banger image catalog`,
      });
    }
    return row;
  }

  info(row: ImageRow): ImageInfo {
    const source = parseSource(row.source);
    return {
      name: row.name,
      version: row.version,
      dir: row.dir,
      rootfsPath: row.rootfs_path,
      sizeBytes: row.size_bytes,
      sha256: row.sha256,
      kernel: row.kernel_name,
      origin: originOf(source),
      ...(typeof source.recipeHash === 'string' ? { recipeHash: source.recipeHash } : {}),
      packageCount: typeof source.packageCount === 'number' ? source.packageCount : 0,
      builtAt: typeof source.builtAt === 'string' ? source.builtAt : new Date(row.created_at).toISOString(),
      registeredAt: new Date(row.created_at).toISOString(),
      usedBy: this.usedBy(row.name),
      ...(source.type === 'oci' ? { oci: ociOriginOf(source) } : {}),
    };
  }

  /** The OCI source of a row pulled from a registry, else undefined. */
  ociSource(row: ImageRow): ImageOciOrigin | undefined {
    return imageOciOrigin(row);
  }
}

/** Where a row's image came from (`recipe:<name>`, a bundle URL, `register:<path>`, `oci:<reference>`), or `unknown`. */
export const imageOrigin = (row: ImageRow): string => originOf(parseSource(row.source));

/** The registry digests of a row pulled from an OCI registry, else undefined (a catalog, built or registered image). */
export function imageOciOrigin(row: ImageRow): ImageOciOrigin | undefined {
  const source = parseSource(row.source);
  return source.type === 'oci' ? ociOriginOf(source) : undefined;
}

const originOf = (source: StoredSource): string => (typeof source.origin === 'string' ? source.origin : 'unknown');

function ociOriginOf(source: StoredSource): ImageOciOrigin {
  const str = (value: unknown): string => (typeof value === 'string' ? value : '');
  return {
    reference: str(source.reference),
    manifestDigest: str(source.manifestDigest),
    ...(typeof source.indexDigest === 'string' ? { indexDigest: source.indexDigest } : {}),
    configDigest: str(source.configDigest),
    provisioned: source.provisioned === true,
  };
}

function parseSource(text: string): StoredSource {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as StoredSource) : {};
  } catch {
    return {};
  }
}
