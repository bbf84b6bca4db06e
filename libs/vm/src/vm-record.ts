import { randomBytes } from 'node:crypto';
import { VmsTable, type Database, type VmRow, type VmRowState, type VmRowUpdate } from '@banger/store';
import { ConflictError, NotFoundError } from '@banger/errors';

/** Lifecycle states stored in `vms.state`. */
export type VmState = VmRowState;

/** The hypervisor a VM was (last) booted with, and why it was picked (for `vm show`). */
export interface VmHypervisor {
  kind: 'firecracker' | 'qemu';
  accel: 'kvm' | 'tcg';
  binary: string;
  /** As the binary reported it (`7.2.22`, `1.16.1`); part of a warm template's inputs. Absent in VMs created before it was recorded. */
  version?: string;
  reason: string;
  warning?: string;
}

/** One sizing value with where it came from (flag, config, host heuristic, builtin floor). */
export interface SizedValue {
  value: number;
  source: string;
  detail: string;
}

/**
 * What a VM was created from: the inputs a second `vm create` with the same
 * name is compared against, plus the provenance the `spec:` line shows.
 */
export interface VmCreateSpec {
  image: string;
  kernel: string;
  vcpu: SizedValue;
  memoryMib: SizedValue;
  diskBytes: SizedValue;
  hypervisor: VmHypervisor;
  /** The file_sync entries copied onto the work disk at create time. */
  fileSync: Array<{ host: string; guest: string; mode?: string }>;
  /** Created warm: started from a copy of its warm template (`vm.warm-template`) instead of a cold boot. */
  warm?: boolean;
}

/** One row of `vms`, typed. */
export interface VmRecord {
  /** Stable id, `vm_<hex>`: safe as a hypervisor resource id; owns the lease and names the tap. */
  id: string;
  name: string;
  state: VmState;
  /** Why the VM is in its state ("qemu exited with status 1", "stopped by banger vm stop"). */
  stateReason?: string;
  image: string;
  kernel: string;
  hypervisor: VmHypervisor['kind'];
  vcpu: number;
  memoryMib: number;
  diskBytes: number;
  ip?: string;
  mac?: string;
  tap?: string;
  pid?: number;
  /** /proc/<pid>/stat field 22, so a reused pid is never adopted. */
  pidStartTime?: string;
  spec: VmCreateSpec;
  createdAt: number;
  updatedAt: number;
}

const fromRow = (r: VmRow): VmRecord => ({
  id: r.id,
  name: r.name,
  state: r.state,
  ...(r.state_reason !== null ? { stateReason: r.state_reason } : {}),
  image: r.image_name,
  kernel: r.kernel_name,
  hypervisor: r.hypervisor as VmRecord['hypervisor'],
  vcpu: r.vcpu,
  memoryMib: r.memory_mib,
  diskBytes: r.disk_bytes,
  ...(r.ip !== null ? { ip: r.ip } : {}),
  ...(r.mac !== null ? { mac: r.mac } : {}),
  ...(r.tap !== null ? { tap: r.tap } : {}),
  ...(r.pid !== null ? { pid: r.pid } : {}),
  ...(r.pid_start_time !== null ? { pidStartTime: r.pid_start_time } : {}),
  spec: JSON.parse(r.spec) as VmCreateSpec,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** A fresh VM id: `vm_` + 12 hex characters. */
export const newVmId = (): string => `vm_${randomBytes(6).toString('hex')}`;

/** Fields `update` may change; `null` clears a nullable column. */
export interface VmUpdate {
  state?: VmState;
  stateReason?: string | null;
  ip?: string | null;
  mac?: string | null;
  tap?: string | null;
  pid?: number | null;
  pidStartTime?: string | null;
  hypervisor?: VmRecord['hypervisor'];
  spec?: VmCreateSpec;
}

const COLUMNS = {
  state: 'state',
  stateReason: 'state_reason',
  ip: 'ip',
  mac: 'mac',
  tap: 'tap',
  pid: 'pid',
  pidStartTime: 'pid_start_time',
  hypervisor: 'hypervisor',
  spec: 'spec',
} as const satisfies Record<keyof VmUpdate, keyof VmRowUpdate>;

const toRowUpdate = (changes: VmUpdate): VmRowUpdate => {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof VmUpdate, keyof VmRowUpdate]>) {
    if (!(key in changes)) continue;
    const value = changes[key];
    row[column] = key === 'spec' ? JSON.stringify(value) : (value ?? null);
  }
  return row as VmRowUpdate;
};

/**
 * VM records over the `vms` table (`VmsTable` of `@banger/store`, which holds
 * the SQL). The daemon is its only writer; the name column is UNIQUE, so two
 * concurrent creates of one name cannot both insert.
 */
export class VmRepository {
  private readonly table: VmsTable;

  constructor(db: Database) {
    this.table = new VmsTable(db);
  }

  /** Inserts a new VM; a taken name is a ConflictError naming it. */
  insert(record: Omit<VmRecord, 'createdAt' | 'updatedAt'>): VmRecord {
    const now = Date.now();
    try {
      this.table.insert({
        id: record.id,
        name: record.name,
        state: record.state,
        state_reason: record.stateReason ?? null,
        image_name: record.image,
        kernel_name: record.kernel,
        hypervisor: record.hypervisor,
        vcpu: record.vcpu,
        memory_mib: record.memoryMib,
        disk_bytes: record.diskBytes,
        ip: record.ip ?? null,
        mac: record.mac ?? null,
        tap: record.tap ?? null,
        pid: record.pid ?? null,
        pid_start_time: record.pidStartTime ?? null,
        spec: JSON.stringify(record.spec),
        created_at: now,
        updated_at: now,
      });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError('VM_EXISTS', `vm ${record.name} already exists`, { hint: 'pick another --name, or delete it first' });
      }
      throw error;
    }
    return this.get(record.name);
  }

  /** The VM called `name`; one being removed in the background (`deleting`) is gone already for every caller but removal. */
  find(name: string): VmRecord | undefined {
    const row = this.table.find(name);
    return row && row.state !== 'deleting' ? fromRow(row) : undefined;
  }

  /** Whether `name` is taken in the table, by a VM or by one still being removed (its name is free once the removal ends). */
  nameTaken(name: string): boolean {
    return this.table.find(name) !== undefined;
  }

  findById(id: string): VmRecord | undefined {
    const row = this.table.findById(id);
    return row ? fromRow(row) : undefined;
  }

  /** The VM called `name`, or a NotFoundError listing what exists. */
  get(name: string): VmRecord {
    const found = this.find(name);
    if (found) return found;
    const names = this.list().map((v) => v.name);
    throw new NotFoundError('VM_NOT_FOUND', `vm ${name} does not exist${names.length ? ` (VMs: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})` : ''}`, {
      hint: 'see banger vm list',
    });
  }

  /** Every VM, by name (not those being removed in the background: see `find`). */
  list(): VmRecord[] {
    return this.listAll().filter((vm) => vm.state !== 'deleting');
  }

  /** Every record, those being removed in the background included (reconcile, leftovers). */
  listAll(): VmRecord[] {
    return this.table.all().map(fromRow);
  }

  /** Changes some fields of the VM `id` (and bumps updated_at); returns the new record. */
  update(id: string, changes: VmUpdate): VmRecord | undefined {
    this.table.update(id, toRowUpdate(changes), Date.now());
    return this.findById(id);
  }

  remove(id: string): void {
    this.table.remove(id);
  }

  /** VM names, sorted (shell completion). */
  names(): string[] {
    return this.table.names();
  }
}
