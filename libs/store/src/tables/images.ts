import type { Database } from '../open-database.js';

/** One row of the `images` table. */
export interface ImageRow {
  name: string;
  version: string;
  dir: string;
  rootfs_path: string;
  size_bytes: number;
  sha256: string;
  kernel_name: string | null;
  /** JSON: origin, recipe hash, OCI digests. */
  source: string;
  created_at: number;
}

/** What registering an image writes. */
export interface ImageRecordInput {
  name: string;
  version: string;
  dir: string;
  rootfsPath: string;
  sizeBytes: number;
  sha256: string;
  kernelName: string | null;
  /** Stored as JSON. */
  source: unknown;
}

/**
 * The `images` table: the one place its SQL lives. An image is recorded only
 * once its directory is complete; `put` replaces an older record.
 */
export class ImagesTable {
  constructor(private readonly db: Database) {}

  all(): ImageRow[] {
    return this.db.prepare<[], ImageRow>('SELECT * FROM images ORDER BY name').all();
  }

  names(): string[] {
    return this.db.prepare<[], string>('SELECT name FROM images ORDER BY name').pluck().all();
  }

  find(name: string): ImageRow | undefined {
    return this.db.prepare<[string], ImageRow>('SELECT * FROM images WHERE name = ?').get(name);
  }

  put(record: ImageRecordInput): void {
    this.db
      .prepare(
        `INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, kernel_name, source, created_at)
         VALUES (@name, @version, @dir, @rootfsPath, @sizeBytes, @sha256, @kernelName, @source, @now)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, rootfs_path = excluded.rootfs_path,
           size_bytes = excluded.size_bytes, sha256 = excluded.sha256, kernel_name = excluded.kernel_name, source = excluded.source`,
      )
      .run({ ...record, source: JSON.stringify(record.source), now: Date.now() });
  }

  remove(name: string): void {
    this.db.prepare('DELETE FROM images WHERE name = ?').run(name);
  }

  /** The VMs created from this image, by name. */
  usedBy(name: string): string[] {
    return this.db.prepare<[string], string>('SELECT name FROM vms WHERE image_name = ? ORDER BY name').pluck().all(name);
  }
}
