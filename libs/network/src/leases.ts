import type Database from 'better-sqlite3';
import { ConflictError } from '@banger/errors';
import { parseIpv4 } from '@banger/host';
import { guestAddresses, parseSubnet, subnetContains } from './subnet.js';

/** One row of ip_leases. */
export interface Lease {
  subnet: string;
  ip: string;
  owner: string;
  leasedAt: number;
}

interface LeaseRow {
  subnet: string;
  ip: string;
  owner: string;
  leased_at: number;
}

const toLease = (r: LeaseRow): Lease => ({ subnet: r.subnet, ip: r.ip, owner: r.owner, leasedAt: r.leased_at });

/**
 * Guest addresses leased from the bridge subnet, in the `ip_leases` table.
 * Every lease runs in a BEGIN IMMEDIATE transaction, so two daemons (or two
 * processes) sharing the database can never hand out the same address; the
 * table's primary key is the backstop.
 */
export class LeaseStore {
  constructor(private readonly db: Database.Database) {}

  /**
   * The address leased to `owner` (a VM id): the one it already holds in this
   * subnet, else the lowest free guest address (network, gateway and
   * broadcast are never leased). Throws ConflictError when the subnet is full.
   */
  lease(subnetCidr: string, owner: string): string {
    const subnet = parseSubnet(subnetCidr);
    const tx = this.db.transaction((): string => {
      const held = this.db.prepare('SELECT ip FROM ip_leases WHERE subnet = ? AND owner = ?').get(subnet.cidr, owner) as { ip: string } | undefined;
      if (held) return held.ip;
      const used = new Set(
        (this.db.prepare('SELECT ip FROM ip_leases WHERE subnet = ?').all(subnet.cidr) as Array<{ ip: string }>).map((r) => r.ip),
      );
      for (const ip of guestAddresses(subnet)) {
        if (used.has(ip)) continue;
        this.db.prepare('INSERT INTO ip_leases (subnet, ip, owner, leased_at) VALUES (?, ?, ?, ?)').run(subnet.cidr, ip, owner, Date.now());
        return ip;
      }
      throw new ConflictError('NETWORK_SUBNET_FULL', `bridge_subnet ${subnet.cidr} is full: all ${subnet.guestCapacity} guest addresses are leased`, {
        hint: 'delete VMs you no longer need, or set a larger bridge_subnet',
      });
    });
    return tx.immediate();
  }

  /** Releases every lease `owner` holds; returns how many. Releasing twice is fine. */
  release(owner: string): number {
    return this.db.prepare('DELETE FROM ip_leases WHERE owner = ?').run(owner).changes;
  }

  /** The leases in a subnet, by address order. */
  leases(subnetCidr: string): Lease[] {
    const subnet = parseSubnet(subnetCidr);
    const rows = this.db.prepare('SELECT * FROM ip_leases WHERE subnet = ?').all(subnet.cidr) as LeaseRow[];
    return rows.map(toLease).sort((a, b) => compareIp(a.ip, b.ip));
  }

  /** The lease `owner` holds, if any. */
  leaseOf(owner: string): Lease | undefined {
    const row = this.db.prepare('SELECT * FROM ip_leases WHERE owner = ?').get(owner) as LeaseRow | undefined;
    return row ? toLease(row) : undefined;
  }

  /** True when `ip` lies in the subnet and is not leased (for validation of a requested address). */
  isFree(subnetCidr: string, ip: string): boolean {
    const subnet = parseSubnet(subnetCidr);
    if (!subnetContains(subnet, ip)) return false;
    return !this.db.prepare('SELECT 1 FROM ip_leases WHERE subnet = ? AND ip = ?').get(subnet.cidr, ip);
  }
}

function compareIp(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}
