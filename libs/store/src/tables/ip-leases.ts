import type { Database } from '../open-database.js';

/** One row of the `ip_leases` table. */
export interface IpLeaseRow {
  subnet: string;
  ip: string;
  owner: string;
  leased_at: number;
}

/**
 * The `ip_leases` table: the one place its SQL lives. The allocation policy
 * (lowest free address, one transaction per lease) is the caller's:
 * `LeaseStore` of `@banger/network` runs these reads and the insert inside
 * its own BEGIN IMMEDIATE transaction; the primary key is the backstop.
 */
export class IpLeasesTable {
  constructor(private readonly db: Database) {}

  /** The address `owner` holds in `subnet`, if any. */
  ipOf(subnet: string, owner: string): string | undefined {
    return this.db.prepare<[string, string], string>('SELECT ip FROM ip_leases WHERE subnet = ? AND owner = ?').pluck().get(subnet, owner);
  }

  /** Every leased address of `subnet`, in no particular order. */
  ipsIn(subnet: string): string[] {
    return this.db.prepare<[string], string>('SELECT ip FROM ip_leases WHERE subnet = ?').pluck().all(subnet);
  }

  insert(row: IpLeaseRow): void {
    this.db.prepare('INSERT INTO ip_leases (subnet, ip, owner, leased_at) VALUES (?, ?, ?, ?)').run(row.subnet, row.ip, row.owner, row.leased_at);
  }

  /** Deletes every lease of `owner`; returns how many. */
  removeOwner(owner: string): number {
    return this.db.prepare('DELETE FROM ip_leases WHERE owner = ?').run(owner).changes;
  }

  /** The leases whose owner is no VM id (what removeOrphans deletes). */
  orphans(): IpLeaseRow[] {
    return this.db.prepare<[], IpLeaseRow>('SELECT * FROM ip_leases WHERE owner NOT IN (SELECT id FROM vms)').all();
  }

  /** Deletes the leases whose owner is no VM id; returns how many. */
  removeOrphans(): number {
    return this.db.prepare('DELETE FROM ip_leases WHERE owner NOT IN (SELECT id FROM vms)').run().changes;
  }

  /** The leases of `subnet`, in no particular order. */
  inSubnet(subnet: string): IpLeaseRow[] {
    return this.db.prepare<[string], IpLeaseRow>('SELECT * FROM ip_leases WHERE subnet = ?').all(subnet);
  }

  /** A lease `owner` holds (any subnet), if any. */
  ofOwner(owner: string): IpLeaseRow | undefined {
    return this.db.prepare<[string], IpLeaseRow>('SELECT * FROM ip_leases WHERE owner = ?').get(owner);
  }

  /** True when `ip` is leased in `subnet`. */
  isLeased(subnet: string, ip: string): boolean {
    return this.db.prepare<[string, string], unknown>('SELECT 1 FROM ip_leases WHERE subnet = ? AND ip = ?').get(subnet, ip) !== undefined;
  }
}
