import { UserError } from '@banger/errors';
import { formatIpv4, parseIpv4 } from '@banger/host';

/** An IPv4 subnet parsed from CIDR notation, with the addresses banger derives from it. */
export interface Subnet {
  /** As written, normalised: `172.16.0.0/24`. */
  cidr: string;
  prefix: number;
  network: string;
  /** Dotted netmask for `ip=`: `255.255.255.0`. */
  netmask: string;
  /** The first host address, held by the bridge and used as the guests' gateway. */
  gateway: string;
  broadcast: string;
  /** Number of addresses guests can lease (all hosts minus the gateway). */
  guestCapacity: number;
}

/** 32-bit unsigned integer of a dotted IPv4 address; throws on anything else. */
export function ipToInt(ip: string): number {
  const value = parseIpv4(ip);
  if (value === undefined) throw new UserError('NETWORK_BAD_ADDRESS', `"${ip}" is not an IPv4 address`);
  return value;
}

/**
 * Parses `a.b.c.d/len` (bridge_subnet). Host bits must be zero and the prefix
 * leave room for a gateway and at least one guest (≤ /30).
 */
export function parseSubnet(cidr: string): Subnet {
  const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr.trim());
  const bad = (why: string) =>
    new UserError('NETWORK_BAD_SUBNET', `bridge_subnet = "${cidr}": ${why}`, { hint: 'use CIDR notation like 172.16.0.0/24' });
  if (!match?.[1] || !match[2]) throw bad('not in CIDR notation');
  const prefix = Number(match[2]);
  if (prefix < 8 || prefix > 30) throw bad(`prefix /${prefix} must be between /8 and /30`);
  let base: number;
  try {
    base = ipToInt(match[1]);
  } catch {
    throw bad(`${match[1]} is not an IPv4 address`);
  }
  const size = 2 ** (32 - prefix);
  const mask = (0xffffffff - (size - 1)) >>> 0;
  if (base % size !== 0) throw bad(`host bits are set (did you mean ${formatIpv4(base - (base % size))}/${prefix}?)`);
  return {
    cidr: `${formatIpv4(base)}/${prefix}`,
    prefix,
    network: formatIpv4(base),
    netmask: formatIpv4(mask),
    gateway: formatIpv4(base + 1),
    broadcast: formatIpv4(base + size - 1),
    guestCapacity: size - 3,
  };
}

/** Guest addresses of a subnet in lease order: from the second host up, skipping network, gateway and broadcast. */
export function* guestAddresses(subnet: Subnet): Generator<string> {
  const first = ipToInt(subnet.gateway) + 1;
  const last = ipToInt(subnet.broadcast) - 1;
  for (let n = first; n <= last; n++) yield formatIpv4(n);
}

/** True when `ip` lies inside the subnet. */
export function subnetContains(subnet: Subnet, ip: string): boolean {
  const n = ipToInt(ip);
  return n >= ipToInt(subnet.network) && n <= ipToInt(subnet.broadcast);
}
