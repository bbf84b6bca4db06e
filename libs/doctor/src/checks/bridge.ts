import { parseIpv4 } from '@banger/host';
import type { CheckContext } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

interface Range {
  start: number;
  end: number;
}

/** `a.b.c.d/n` or a bare address (a /32) as an inclusive numeric range. */
export function cidrRange(text: string): Range | undefined {
  const [address, bits = '32'] = text.split('/');
  const start = address ? parseIpv4(address) : undefined;
  const prefix = Number(bits);
  if (start === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = start - (start % size);
  return { start: network, end: network + size - 1 };
}

/**
 * The bridge subnet must not overlap a network the host already routes
 * (a LAN, a VPN, docker's bridges): the guests would shadow those hosts, or
 * the other route would swallow guest traffic. Reads the routing table with
 * `ip -j -4 route` (read-only); banger's own bridge routes do not count.
 */
export function bridgeSubnetCheck(ctx: CheckContext): DoctorCheck {
  const { bridgeSubnet, bridgeName } = ctx.config;
  return {
    id: 'bridge-subnet',
    title: 'bridge_subnet',
    required: true,
    async run() {
      const ours = cidrRange(bridgeSubnet);
      const ip = lookup(ctx.env, 'ip');
      if (!ours || !ip) return { status: 'warn', detail: `cannot check ${bridgeSubnet} against the host routes (no ip command)` };
      const result = await ctx.env.exec(ip, ['-j', '-4', 'route', 'show'], { timeoutMs: 10_000 });
      let routes: Array<{ dst?: string; dev?: string }>;
      try {
        routes = JSON.parse(result.stdout || '[]') as typeof routes;
      } catch {
        return { status: 'warn', detail: `cannot read the host routes (ip -j route printed no JSON)` };
      }
      for (const route of routes) {
        if (!route.dst || route.dst === 'default' || route.dev === bridgeName) continue;
        const theirs = cidrRange(route.dst);
        if (theirs && theirs.start <= ours.end && ours.start <= theirs.end) {
          return {
            status: 'fail',
            detail: `${bridgeSubnet} overlaps the host route ${route.dst}${route.dev ? ` on ${route.dev}` : ''}`,
            hint: 'set bridge_subnet in config.toml to an unused private range, e.g. "10.213.0.0/24"',
          };
        }
      }
      return { status: 'ok', detail: `${bridgeSubnet} (bridge ${bridgeName}) overlaps no host route` };
    },
  };
}
