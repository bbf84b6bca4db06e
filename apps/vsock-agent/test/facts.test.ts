import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestNetwork, hasDefaultRoute, parseNameservers } from '../src/ops/facts.js';

// /proc/net/route of a Debian guest whose `ip=` configuration is done (eth0 172.16.0.2/24, gateway .1).
const ROUTED = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010010AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000010AC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
// The same guest before the default route is added: only the subnet.
const SUBNET_ONLY = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t000010AC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;

describe('the network readiness the facts op reports', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'agent-facts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sees a default route only when one is up', () => {
    expect(hasDefaultRoute(ROUTED)).toBe(true);
    expect(hasDefaultRoute(SUBNET_ONLY)).toBe(false);
    expect(hasDefaultRoute(ROUTED.replace('\t0003\t', '\t0002\t'))).toBe(false);
    expect(hasDefaultRoute('')).toBe(false);
  });

  it('reads the nameservers of a resolv.conf, ignoring comments and other lines', () => {
    expect(parseNameservers('# generated\nsearch vm\nnameserver 172.16.0.1\n  nameserver 9.9.9.9 \n#nameserver 1.1.1.1\n')).toEqual(['172.16.0.1', '9.9.9.9']);
    expect(parseNameservers('')).toEqual([]);
  });

  it('reads both from files, and counts a missing file as nothing configured yet', async () => {
    await writeFile(join(dir, 'route'), ROUTED);
    await writeFile(join(dir, 'resolv.conf'), 'nameserver 172.16.0.1\n');
    expect(await guestNetwork({ route: join(dir, 'route'), resolvConf: join(dir, 'resolv.conf') })).toEqual({ defaultRoute: true, nameservers: ['172.16.0.1'] });
    expect(await guestNetwork({ route: join(dir, 'none'), resolvConf: join(dir, 'none') })).toEqual({ defaultRoute: false, nameservers: [] });
  });
});
