import type { Database } from '../open-database.js';

/** Lifecycle states stored in `vms.state`. */
/** `deleting`: `vm run --rm` handed the VM to the daemon to remove; gone for the user, finished at the next daemon start if need be. */
export type VmRowState = 'creating' | 'running' | 'stopped' | 'suspended' | 'failed' | 'deleting';

/** One row of the `vms` table. */
export interface VmRow {
  id: string;
  name: string;
  state: VmRowState;
  state_reason: string | null;
  image_name: string;
  kernel_name: string;
  hypervisor: string;
  vcpu: number;
  memory_mib: number;
  disk_bytes: number;
  ip: string | null;
  mac: string | null;
  tap: string | null;
  pid: number | null;
  pid_start_time: string | null;
  /** JSON: the create spec. */
  spec: string;
  created_at: number;
  updated_at: number;
}

/** The columns `update` may change, in the order they are written. */
const UPDATABLE = ['state', 'state_reason', 'ip', 'mac', 'tap', 'pid', 'pid_start_time', 'hypervisor', 'spec'] as const;

/** Columns an update changes: a present key is written (`null` clears), an absent one is kept. */
export type VmRowUpdate = Partial<Pick<VmRow, (typeof UPDATABLE)[number]>>;

/** How many VMs there are, and how many run or are stopped (`daemon.status`). */
export interface VmCounts {
  total: number;
  running: number;
  stopped: number;
}

/**
 * The `vms` table: the one place its SQL lives. The name column is UNIQUE,
 * so two concurrent inserts of one name cannot both succeed: the second
 * throws better-sqlite3's error with code `SQLITE_CONSTRAINT_UNIQUE`.
 */
export class VmsTable {
  constructor(private readonly db: Database) {}

  insert(row: VmRow): void {
    this.db
      .prepare(
        `INSERT INTO vms (id, name, state, state_reason, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes,
                          ip, mac, tap, pid, pid_start_time, spec, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        row.id, row.name, row.state, row.state_reason, row.image_name, row.kernel_name, row.hypervisor,
        row.vcpu, row.memory_mib, row.disk_bytes, row.ip, row.mac, row.tap,
        row.pid, row.pid_start_time, row.spec, row.created_at, row.updated_at,
      );
  }

  find(name: string): VmRow | undefined {
    return this.db.prepare<[string], VmRow>('SELECT * FROM vms WHERE name = ?').get(name);
  }

  findById(id: string): VmRow | undefined {
    return this.db.prepare<[string], VmRow>('SELECT * FROM vms WHERE id = ?').get(id);
  }

  /** Every VM, by name. */
  all(): VmRow[] {
    return this.db.prepare<[], VmRow>('SELECT * FROM vms ORDER BY name').all();
  }

  /** VM names, sorted. */
  names(): string[] {
    return this.db.prepare<[], string>("SELECT name FROM vms WHERE state <> 'deleting' ORDER BY name").pluck().all();
  }

  /** Writes the given columns of the VM `id` and sets updated_at. */
  update(id: string, changes: VmRowUpdate, updatedAt: number): void {
    const sets: string[] = [];
    const values: unknown[] = [];
    for (const column of UPDATABLE) {
      if (!(column in changes)) continue;
      sets.push(`${column} = ?`);
      values.push(changes[column]);
    }
    sets.push('updated_at = ?');
    values.push(updatedAt, id);
    this.db.prepare(`UPDATE vms SET ${sets.join(', ')} WHERE id = ?`).run(...values);
  }

  remove(id: string): void {
    this.db.prepare('DELETE FROM vms WHERE id = ?').run(id);
  }

  counts(): VmCounts {
    return this.db
      .prepare<[], VmCounts>(
        `SELECT COUNT(*) AS total,
                COALESCE(SUM(state = 'running'), 0) AS running,
                COALESCE(SUM(state = 'stopped'), 0) AS stopped
           FROM vms`,
      )
      .get() as VmCounts;
  }

  /**
   * A lookup of a VM's address by lower-cased name (the `.vm` DNS server),
   * its statement prepared once here: each call is one indexed read.
   */
  ipLookup(): (lowerName: string) => string | undefined {
    const select = this.db.prepare<[string], string>('SELECT ip FROM vms WHERE lower(name) = ? AND ip IS NOT NULL LIMIT 1').pluck();
    return (lowerName) => select.get(lowerName);
  }
}
