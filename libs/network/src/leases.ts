import { ConflictError } from '@banger/errors';
import { parseIpv4 } from '@banger/host';
import { IpLeasesTable, type Database, type IpLeaseRow } from '@banger/store';
import { guestAddresses, parseSubnet, subnetContains } from './subnet.js';

/** One row of ip_leases. */
export interface Lease {
  subnet: string;
  ip: string;
  owner: string;
  leasedAt: number;
}

const toLease = (r: IpLeaseRow): Lease => ({ subnet: r.subnet, ip: r.ip, owner: r.owner, leasedAt: r.leased_at });

/**
 * Guest addresses leased from the bridge subnet, in the `ip_leases` table
 * (`IpLeasesTable` of `@banger/store`, which holds the SQL).
 * Every lease runs in a BEGIN IMMEDIATE transaction, so two daemons (or two
 * processes) sharing the database can never hand out the same address; the
 * table's primary key is the backstop.
 */
export class LeaseStore {
  private readonly table: IpLeasesTable;

  constructor(private readonly db: Database) {
    this.table = new IpLeasesTable(db);
  }

  /**
   * The address leased to `owner` (a VM id): the one it already holds in this
   * subnet, else the lowest free guest address (network, gateway and
   * broadcast are never leased). Throws ConflictError when the subnet is full.
   */
  lease(subnetCidr: string, owner: string): string {
    const subnet = parseSubnet(subnetCidr);
    const tx = this.db.transaction((): string => {
      const held = this.table.ipOf(subnet.cidr, owner);
      if (held !== undefined) return held;
      const used = new Set(this.table.ipsIn(subnet.cidr));
      for (const ip of guestAddresses(subnet)) {
        if (used.has(ip)) continue;
        this.table.insert({ subnet: subnet.cidr, ip, owner, leased_at: Date.now() });
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
    return this.table.removeOwner(owner);
  }

  /** The leases in a subnet, by address order. */
  leases(subnetCidr: string): Lease[] {
    const subnet = parseSubnet(subnetCidr);
    return this.table.inSubnet(subnet.cidr).map(toLease).sort((a, b) => compareIp(a.ip, b.ip));
  }

  /** The lease `owner` holds, if any. */
  leaseOf(owner: string): Lease | undefined {
    const row = this.table.ofOwner(owner);
    return row ? toLease(row) : undefined;
  }

  /** True when `ip` lies in the subnet and is not leased (for validation of a requested address). */
  isFree(subnetCidr: string, ip: string): boolean {
    const subnet = parseSubnet(subnetCidr);
    if (!subnetContains(subnet, ip)) return false;
    return !this.table.isLeased(subnet.cidr, ip);
  }
}

function compareIp(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}
