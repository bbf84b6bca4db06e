import type { KernelInfo } from '@banger/api';
import { NotFoundError } from '@banger/errors';
import { KernelsTable, type Database, type KernelRow } from '@banger/store';
import type { KernelManifest } from './bundle-manifest.js';

/** The `kernels` table plus what `kernel show` adds to a row. */
export class KernelRecords extends KernelsTable {
  constructor(db: Database) {
    super(db);
  }

  /** The row of kernel `name`, else a NotFoundError listing the registered ones. */
  get(name: string): KernelRow {
    const row = this.find(name);
    if (!row) {
      const known = this.names();
      throw new NotFoundError('KERNEL_NOT_FOUND', `kernel ${name} is not registered${known.length ? ` (registered: ${known.join(', ')})` : ''}`, {
        hint: `pull it with banger kernel pull ${name}, or see banger kernel catalog`,
      });
    }
    return row;
  }

  /** `kernel list` / `kernel show`: the row with its bundle manifest read defensively. */
  info(row: KernelRow): KernelInfo {
    // Defensive: a row written by another code path must not break `kernel list`.
    let manifest: Partial<KernelManifest> = {};
    try {
      manifest = JSON.parse(row.manifest) as Partial<KernelManifest>;
    } catch {
      // keep the defaults below
    }
    return {
      name: row.name,
      version: row.version,
      dir: row.dir,
      source: manifest.source ?? { package: 'unknown', packageVersion: 'unknown' },
      bootModules: manifest.bootModules ?? [],
      builtAt: manifest.builtAt ?? new Date(row.created_at).toISOString(),
      registeredAt: new Date(row.created_at).toISOString(),
      sizeBytes: Object.values(manifest.files ?? {}).reduce((sum, file) => sum + (file?.size ?? 0), 0),
      usedBy: this.usedBy(row.name),
    };
  }
}
