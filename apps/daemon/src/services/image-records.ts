import type { ImageInfo, OciSource } from '@banger/api';
import { NotFoundError } from '@banger/errors';
import type { ImageHome, ImageSource } from '@banger/images';
import { ImagesTable, type ImageRow } from '@banger/store';
import { imageHome as vmImageHome } from '@banger/vm';
import type { DaemonContext } from '../context.js';

export type { ImageRow };

/** Where images live, as @banger/images takes it. */
export const imageHome = (ctx: DaemonContext): ImageHome => vmImageHome(ctx);


/** The `images` table plus what `image show` adds to a row. */
export class ImageRecords extends ImagesTable {
  constructor(ctx: DaemonContext) {
    super(ctx.db);
  }

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
    // Rows written by other code paths (OCI import, older versions) may carry other JSON: read defensively.
    const source = parseSource(row.source);
    return {
      name: row.name,
      version: row.version,
      dir: row.dir,
      rootfsPath: row.rootfs_path,
      sizeBytes: row.size_bytes,
      sha256: row.sha256,
      kernel: row.kernel_name,
      origin: typeof source.origin === 'string' ? source.origin : 'unknown',
      ...(typeof source.recipeHash === 'string' ? { recipeHash: source.recipeHash } : {}),
      packageCount: typeof source.packageCount === 'number' ? source.packageCount : 0,
      builtAt: typeof source.builtAt === 'string' ? source.builtAt : new Date(row.created_at).toISOString(),
      registeredAt: new Date(row.created_at).toISOString(),
      usedBy: this.usedBy(row.name),
      ...(source.type === 'oci' ? { oci: ociSourceOf(source) } : {}),
    };
  }

  /** The OCI source of a row pulled from a registry, else undefined. */
  ociSource(row: ImageRow): OciSource | undefined {
    const source = parseSource(row.source);
    return source.type === 'oci' ? ociSourceOf(source) : undefined;
  }
}

function ociSourceOf(source: Partial<Record<keyof ImageSource, unknown>>): OciSource {
  const str = (value: unknown): string => (typeof value === 'string' ? value : '');
  return {
    reference: str(source.reference),
    manifestDigest: str(source.manifestDigest),
    ...(typeof source.indexDigest === 'string' ? { indexDigest: source.indexDigest } : {}),
    configDigest: str(source.configDigest),
    provisioned: source.provisioned === true,
  };
}

function parseSource(text: string): Partial<Record<keyof ImageSource, unknown>> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Partial<Record<keyof ImageSource, unknown>>) : {};
  } catch {
    return {};
  }
}

