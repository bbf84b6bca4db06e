import { Resolver } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { ApiClient } from '@banger/api';
import { findExecutable, run } from '@banger/host';
import type { RunningDaemon } from '../start-daemon.js';
import { useTestDaemonHome } from '../testing/test-daemon-home.js';
import { daemonService } from './daemon.js';
import type { PrivilegedRunner } from '@banger/dns';
import type { Service } from '../service.js';
import { createDnsService } from './dns.js';

// A bridge name no host has: the bridge listener must stay pending.
const home = useTestDaemonHome('bangerd-dns-', 'bridge_name = "bgtest-nobr0"\nbridge_subnet = "172.31.250.0/24"\n');

async function start(): Promise<{ daemon: RunningDaemon; client: ApiClient; port: number; resolver: Resolver }> {
  const { daemon, client } = await home.start([daemonService, createDnsService({ loopbackPort: 0, bridgePollMs: 50, resolvedActive: () => false })]);
  // The loopback listener starts asynchronously with the daemon.
  let status = await client.call('dns.status', {});
  for (let i = 0; i < 100 && status.listeners.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    status = await client.call('dns.status', {});
  }
  const loopback = status.listeners.find((l) => l.scope === 'loopback');
  if (!loopback) throw new Error(`no loopback listener: ${JSON.stringify(status)}`);
  const resolver = new Resolver({ timeout: 2_000, tries: 1 });
  resolver.setServers([`127.0.0.1:${loopback.port}`]);
  return { daemon, client, port: loopback.port, resolver };
}

function insertVm(d: RunningDaemon, name: string, ip: string | null, state = 'running'): void {
  const now = Date.now();
  d.ctx.db
    .prepare(
      `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, ip, spec, created_at, updated_at)
       VALUES (?, ?, ?, 'debian-minimal', 'debian-cloud', 'qemu', 1, 512, 1073741824, ?, '{}', ?, ?)`,
    )
    .run(`vm_${name}`, name, state, ip, now, now);
}

const codeOf = (promise: Promise<unknown>): Promise<string | undefined> =>
  promise.then(
    () => undefined,
    (error: NodeJS.ErrnoException) => error.code,
  );

describe('the daemon .vm DNS server', () => {
  it('answers A for an existing VM straight from the vms table', async () => {
    const { daemon: d, resolver } = await start();
    insertVm(d, 'sandbox', '172.31.250.7');
    expect(await resolver.resolve4('sandbox.vm', { ttl: true })).toEqual([{ address: '172.31.250.7', ttl: 5 }]);
    expect(await resolver.resolve4('SandBox.VM')).toEqual(['172.31.250.7']);
  });

  it('answers NXDOMAIN once the VM row is deleted, and follows a rename at once', async () => {
    const { daemon: d, resolver } = await start();
    insertVm(d, 'sandbox', '172.31.250.7');
    expect(await resolver.resolve4('sandbox.vm')).toEqual(['172.31.250.7']);
    d.ctx.db.prepare('UPDATE vms SET name = ? WHERE name = ?').run('renamed', 'sandbox');
    expect(await codeOf(resolver.resolve4('sandbox.vm'))).toBe('ENOTFOUND');
    expect(await resolver.resolve4('renamed.vm')).toEqual(['172.31.250.7']);
    d.ctx.db.prepare('DELETE FROM vms WHERE name = ?').run('renamed');
    expect(await codeOf(resolver.resolve4('renamed.vm'))).toBe('ENOTFOUND');
  });

  it('keeps answering for a stopped VM that keeps its lease, and not for a VM without an address', async () => {
    const { daemon: d, resolver } = await start();
    insertVm(d, 'parked', '172.31.250.9', 'stopped');
    insertVm(d, 'fresh', null, 'creating');
    expect(await resolver.resolve4('parked.vm')).toEqual(['172.31.250.9']);
    expect(await codeOf(resolver.resolve4('fresh.vm'))).toBe('ENOTFOUND');
  });

  it('refuses names outside .vm and answers NODATA for AAAA of an existing VM', async () => {
    const { daemon: d, resolver } = await start();
    insertVm(d, 'sandbox', '172.31.250.7');
    expect(await codeOf(resolver.resolve4('example.com'))).toBe('EREFUSED');
    expect(await codeOf(resolver.resolve6('sandbox.vm'))).toBe('ENODATA');
  });

  it('keeps answering after a burst of random and truncated packets', async () => {
    const { daemon: d, port } = await start();
    insertVm(d, 'sandbox', '172.31.250.7');
    // A real stub resolver retries; on a loaded CI host the daemon may still be logging the junk when the first try times out.
    const resolver = new Resolver({ timeout: 2_000, tries: 3 });
    resolver.setServers([`127.0.0.1:${port}`]);
    const socket = createSocket('udp4');
    const valid = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'sandbox.vm' }] });
    for (let i = 0; i < 300; i++) {
      const junk = i % 2 === 0 ? Buffer.from(Array.from({ length: 1 + (i % 600) }, () => Math.floor(Math.random() * 256))) : valid.subarray(0, i % valid.length);
      socket.send(junk, port, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, 200));
    socket.close();
    expect(await resolver.resolve4('sandbox.vm')).toEqual(['172.31.250.7']);
  });

  it.skipIf(!findExecutable('dig'))('answers dig over UDP and TCP with the authoritative flag', async () => {
    const { daemon: d, port } = await start();
    insertVm(d, 'sandbox', '172.31.250.7');
    for (const transport of ['+notcp', '+tcp']) {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), transport, '+time=2', '+tries=1', 'sandbox.vm', 'A']);
      expect(stdout).toMatch(/status: NOERROR/);
      expect(stdout).toMatch(/flags: qr aa/);
      expect(stdout).toMatch(/^sandbox\.vm\.\s+5\s+IN\s+A\s+172\.31\.250\.7$/m);
    }
    const refused = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', 'example.com', 'A']);
    expect(refused.stdout).toMatch(/status: REFUSED/);
  });

  it('reports its loopback address in daemon.status and the missing bridge in dns.status', async () => {
    const { client: c, port } = await start();
    expect((await c.call('daemon.status', {})).dns).toEqual({ address: `127.0.0.1:${port}` });
    const status = await c.call('dns.status', {});
    expect(status).toMatchObject({
      listeners: [{ scope: 'loopback', address: '127.0.0.1', port }],
      bridge: { name: 'bgtest-nobr0', address: '172.31.250.1', up: false },
      resolved: { state: 'pending' },
      problems: [],
    });
  });

  it('stops listening when the daemon stops', async () => {
    const { daemon: d, resolver } = await start();
    await d.stop('test');
    const quick = new Resolver({ timeout: 300, tries: 1 });
    quick.setServers(resolver.getServers());
    expect(await codeOf(quick.resolve4('sandbox.vm'))).toMatch(/ETIMEOUT|ECONNREFUSED/);
  });
});

describe('the bridge listener and systemd-resolved wiring', () => {
  it('serves the bridge address once it exists, wires resolved, re-applies after resolved forgets, and reverts at shutdown', async () => {
    const calls: string[] = [];
    let resolvedKnows = false;
    let applied = '';
    // Stands in for resolvectl: `dns <link> <server>` sets the server, `dns <link>` lists it.
    const runner: PrivilegedRunner = async (command, args) => {
      calls.push([command, ...args].join(' '));
      if (args[0] === 'dns' && args.length === 3) {
        resolvedKnows = true;
        applied = args[2]!;
      }
      const stdout = args[0] === 'dns' && args.length === 2 ? `Link 1 (lo): ${resolvedKnows ? applied : ''}` : '';
      return { exitCode: 0, stdout, stderr: '' };
    };
    // `lo` plays the bridge: its 127.0.0.1 is "the gateway" (config.toml only accepts private ranges, hence the override).
    const dns = createDnsService({ loopbackPort: 0, bridgePollMs: 50, resolvedIntervalMs: 100, resolvedActive: () => true, runner });
    const onLo: Service = (ctx, server) => dns({ ...ctx, config: { ...ctx.config, bridgeName: 'lo', bridgeSubnet: '127.0.0.0/8' } }, server);
    const { daemon, client } = await home.start([daemonService, onLo]);
    let status = await client.call('dns.status', {});
    for (let i = 0; i < 100 && status.resolved.state !== 'applied'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await client.call('dns.status', {});
    }
    const bridge = status.listeners.find((l) => l.scope === 'bridge');
    expect(status.bridge).toEqual({ name: 'lo', address: '127.0.0.1', up: true });
    expect(bridge).toMatchObject({ address: '127.0.0.1' });
    const expected = bridge!.port === 53 ? '127.0.0.1' : `127.0.0.1:${bridge!.port}`;
    expect(status.resolved.detail).not.toMatch(/re-applied/);
    expect(calls.slice(0, 3)).toEqual([`resolvectl dns lo ${expected}`, 'resolvectl domain lo ~vm', 'resolvectl default-route lo false']);

    insertVm(daemon, 'sandbox', '172.31.250.7');
    const resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${bridge!.port}`]);
    expect(await resolver.resolve4('sandbox.vm')).toEqual(['172.31.250.7']);

    // A resolved restart drops per-link settings: the keeper notices and applies them again.
    resolvedKnows = false;
    for (let i = 0; i < 100 && !/re-applied/.test(status.resolved.detail); i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await client.call('dns.status', {});
    }
    expect(status.resolved).toMatchObject({ state: 'applied', detail: expect.stringMatching(/re-applied after resolved lost it/) });
    expect(resolvedKnows).toBe(true);

    client.close();
    await daemon.stop('test');
    expect(calls.at(-1)).toBe('resolvectl revert lo');
  });
});
