import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTestDaemonHome } from '../../testing/test-daemon-home.js';
import { daemonService } from '../daemon.js';
import { createDnsService } from '../dns.js';
import { vmService } from './index.js';

// A bridge no host has: nothing is created on the host, the DNS service stays loopback-only.
const home = useTestDaemonHome('bangerd-run-dns-', 'bridge_name = "bgtest-nobr1"\nbridge_subnet = "172.31.251.0/24"\n');

/** Calls vm.run with a name banger refuses before anything is created, and returns the notice lines it streamed first. */
async function noticesOfRun(resolvConf: string): Promise<string[]> {
  const resolvConfPath = join(home.dir, 'resolv.conf');
  writeFileSync(resolvConfPath, resolvConf);
  const { client } = await home.start([daemonService, createDnsService({ loopbackPort: 0, bridgePollMs: 50, resolvedActive: () => false, resolvConfPath }), vmService]);
  const lines: string[] = [];
  const call = client.call('vm.run', { name: 'Not A Name!' }, { onEvent: (event) => (event.type === 'vm-notice' ? lines.push(event.line) : undefined) });
  await expect(call).rejects.toThrow(/Not A Name!/);
  return lines;
}

describe('vm run and the guests\' DNS upstream', () => {
  it('warns once, with a hint, when the host has no upstream resolver', async () => {
    const lines = await noticesOfRun('# no nameserver lines at all\nsearch example.internal\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^warning: the host has no upstream DNS resolver \(none in .*resolv\.conf\): guests can resolve only <vm>\.vm names/);
    expect(lines[0]).toMatch(/hint: set dns_upstreams in config\.toml/);
  });

  it('says nothing when the host has one', async () => {
    expect(await noticesOfRun('nameserver 192.0.2.53\n')).toEqual([]);
  });
});
