import { join } from 'node:path';
import type { ImageInfo, OciSource } from '@banger/api';
import { NotFoundError } from '@banger/errors';
import { ROOTFS_FILE, type ImageManifest } from '@banger/images';
import type { DaemonContext } from '../context.js';

/** One row of the `images` table. */
export interface ImageRow {
  name: string;
  version: string;
  dir: string;
  rootfs_path: string;
  size_bytes: number;
  sha256: string;
  kernel_name: string | null;
  source: string;
  created_at: number;
}

/**
 * What the `source` JSON column of an image row holds. OCI pulls add
 * `type: 'oci'` and the registry digests (`OciSource`); other rows have no type.
 */
export interface ImageSource extends Partial<OciSource> {
  type?: 'oci';
  origin: string;
  recipeHash?: string;
  builtAt: string;
  packageCount: number;
}


/** The `images` table and what `image show` adds to a row. */
export class ImageRecords {
  private readonly selectAll;
  private readonly selectOne;
  private readonly upsert;
  private readonly delete_;
  private readonly users;

  constructor(ctx: DaemonContext) {
    this.selectAll = ctx.db.prepare<[], ImageRow>('SELECT * FROM images ORDER BY name');
    this.selectOne = ctx.db.prepare<[string], ImageRow>('SELECT * FROM images WHERE name = ?');
    this.upsert = ctx.db.prepare(
      `INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, kernel_name, source, created_at)
       VALUES (@name, @version, @dir, @rootfs, @size, @sha256, @kernel, @source, @now)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, rootfs_path = excluded.rootfs_path,
         size_bytes = excluded.size_bytes, sha256 = excluded.sha256, kernel_name = excluded.kernel_name, source = excluded.source`,
    );
    this.delete_ = ctx.db.prepare('DELETE FROM images WHERE name = ?');
    this.users = ctx.db.prepare<[string], string>('SELECT name FROM vms WHERE image_name = ? ORDER BY name').pluck();
  }

  all(): ImageRow[] {
    return this.selectAll.all();
  }

  find(name: string): ImageRow | undefined {
    return this.selectOne.get(name);
  }

  get(name: string): ImageRow {
    const row = this.find(name);
    if (!row) {
      const known = this.all().map((r) => r.name);
      throw new NotFoundError('IMAGE_NOT_FOUND', `image ${name} is not registered${known.length ? ` (registered: ${known.join(', ')})` : ''}`, {
        hint: `pull it with banger image pull ${name}, or see banger image catalog`,
      });
    }
    return row;
  }

  /** Records (or updates) an image from its manifest; `oci` marks an OCI pull and keeps its digests. */
  put(name: string, dir: string, manifest: ImageManifest, oci?: OciSource): void {
    const rootfs = manifest.files[ROOTFS_FILE]!;
    const source: ImageSource = {
      ...(oci ? { type: 'oci' as const, ...oci } : {}),
      origin: manifest.source ?? 'unknown',
      ...(manifest.recipeHash ? { recipeHash: manifest.recipeHash } : {}),
      builtAt: manifest.builtAt,
      packageCount: manifest.packages.length,
    };
    this.upsert.run({
      name,
      version: manifest.version,
      dir,
      rootfs: join(dir, ROOTFS_FILE),
      size: manifest.sizeBytes,
      sha256: rootfs.sha256,
      kernel: manifest.defaultKernel,
      source: JSON.stringify(source),
      now: Date.now(),
    });
  }

  remove(name: string): void {
    this.delete_.run(name);
  }

  usedBy(name: string): string[] {
    return this.users.all(name);
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

