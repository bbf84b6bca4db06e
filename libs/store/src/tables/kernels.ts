import type { Database } from '../open-database.js';

/** One row of the `kernels` table. */
export interface KernelRow {
  name: string;
  version: string;
  dir: string;
  /** JSON: the bundle manifest. */
  manifest: string;
  created_at: number;
}

/** What registering a kernel writes. */
export interface KernelRecordInput {
  name: string;
  version: string;
  dir: string;
  /** The bundle manifest, stored as JSON. */
  manifest: unknown;
}

/**
 * The `kernels` table: the one place its SQL lives. A kernel is recorded only
 * once its bundle directory is complete; `put` replaces an older record.
 */
export class KernelsTable {
  constructor(private readonly db: Database) {}

  all(): KernelRow[] {
    return this.db.prepare<[], KernelRow>('SELECT * FROM kernels ORDER BY name').all();
  }

  names(): string[] {
    return this.db.prepare<[], string>('SELECT name FROM kernels ORDER BY name').pluck().all();
  }

  find(name: string): KernelRow | undefined {
    return this.db.prepare<[string], KernelRow>('SELECT * FROM kernels WHERE name = ?').get(name);
  }

  put(record: KernelRecordInput): void {
    this.db
      .prepare(
        `INSERT INTO kernels (name, version, dir, manifest, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, manifest = excluded.manifest`,
      )
      .run(record.name, record.version, record.dir, JSON.stringify(record.manifest), Date.now());
  }

  remove(name: string): void {
    this.db.prepare('DELETE FROM kernels WHERE name = ?').run(name);
  }

  /** The VMs booting this kernel, by name. */
  usedBy(name: string): string[] {
    return this.db.prepare<[string], string>('SELECT name FROM vms WHERE kernel_name = ? ORDER BY name').pluck().all(name);
  }
}
