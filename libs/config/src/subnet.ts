import { formatIpv4, parseIpv4 } from '@banger/host';

/** Why a value is not acceptable, phrased for "<key>: got X, <message>". */
export interface Problem {
  message: string;
  hint?: string;
}

/** The widest and narrowest bridge networks banger accepts. /29 leaves a gateway and five guests. */
export const MIN_SUBNET_PREFIX = 8;
export const MAX_SUBNET_PREFIX = 29;

// The bridge's route would shadow any real addresses in the subnet, so only
// ranges that are never routed on the internet are allowed.
const PRIVATE_RANGES: Array<[string, number]> = [
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10],
];

/**
 * Checks that `text` is an IPv4 CIDR usable as the bridge network: a network
 * address (host bits zero), a private range, and room for the gateway plus
 * guests. Returns the problem, or undefined when it is fine.
 */
export function checkBridgeSubnet(text: string): Problem | undefined {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const address = match ? parseIpv4(match[1]!) : undefined;
  const prefix = match ? Number(match[2]) : NaN;
  if (!match || address === undefined || !(prefix >= 0 && prefix <= 32)) {
    return { message: 'expected an IPv4 network in CIDR form like "172.16.0.0/24"' };
  }
  if (prefix < MIN_SUBNET_PREFIX || prefix > MAX_SUBNET_PREFIX) {
    return {
      message: `expected a prefix length from /${MIN_SUBNET_PREFIX} to /${MAX_SUBNET_PREFIX} (a /${prefix} ${prefix > MAX_SUBNET_PREFIX ? 'has no room for guests' : 'is needlessly large'})`,
      hint: 'a /24 such as "172.16.0.0/24" holds 253 VMs',
    };
  }
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  if (network !== address) {
    return {
      message: 'host bits are set: that is an address, not a network',
      hint: `did you mean "${formatIpv4(network)}/${prefix}"?`,
    };
  }
  const inPrivate = PRIVATE_RANGES.some(([base, bits]) => {
    const rangeSize = 2 ** (32 - bits);
    const start = parseIpv4(base)!;
    return prefix >= bits && network >= start && network + size <= start + rangeSize;
  });
  if (!inPrivate) {
    return {
      message: 'expected a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)',
      hint: 'the bridge route would hide real hosts in a public range; pick e.g. "172.16.0.0/24"',
    };
  }
  return undefined;
}
