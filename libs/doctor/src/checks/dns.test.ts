import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DnsStatus } from '@banger/api';
import { GiB, defaultConfig, resolvePaths } from '@banger/config';
import { doctorChecks, runDoctor, type DnsProbe, type DoctorEnv } from '../index.js';

const scratch = mkdtempSync(join(tmpdir(), 'banger-doctor-dns-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const paths = resolvePaths({ HOME: scratch, BANGER_HOME: join(scratch, 'home') });
const HOST = { cpus: 8, memoryMib: 16384, stateFsBytes: 100 * GiB };

const status = (overrides: Partial<DnsStatus> = {}): DnsStatus => ({
  listeners: [
    { scope: 'loopback', address: '127.0.0.1', port: 5354 },
    { scope: 'bridge', address: '172.16.0.1', port: 53 },
  ],
  bridge: { name: 'banger0', address: '172.16.0.1', up: true },
  resolved: { state: 'applied', detail: 'resolvectl dns banger0 172.16.0.1; domain ~vm' },
  problems: [],
  ...overrides,
});

/** Runs only the DNS check, with the given probe and host resolver. */
async function dnsOutcome(probe: DnsProbe, resolveHost?: DoctorEnv['resolveHost']) {
  const { checks } = doctorChecks({ config: defaultConfig(), paths, host: HOST, dns: probe, ...(resolveHost ? { env: { resolveHost } } : {}) });
  const check = checks.find((c) => c.id === 'dns');
  if (!check) throw new Error('no dns check');
  expect(check.required).toBe(false);
  return check.run();
}

describe('the .vm DNS check', () => {
  it('is ok and names the address when <vm>.vm resolves to the VM', async () => {
    const asked: string[] = [];
    const outcome = await dnsOutcome(
      async () => ({ vm: { name: 'sandbox', ip: '172.16.0.2' }, status: status() }),
      async (name) => {
        asked.push(name);
        return '172.16.0.2';
      },
    );
    expect(asked).toEqual(['sandbox.vm']);
    expect(outcome).toEqual({ status: 'ok', detail: expect.stringContaining('sandbox.vm resolves to 172.16.0.2') });
  });

  it('warns with the resolved state, the routing doc and the vm ssh fallback when <vm>.vm does not resolve', async () => {
    // The real host resolver: no .vm routing exists on this machine, so getent finds nothing.
    const name = `doctor-${process.pid}-${Date.now()}`;
    const outcome = await dnsOutcome(async () => ({
      vm: { name, ip: '172.16.0.9' },
      status: status({ resolved: { state: 'unavailable', detail: 'systemd-resolved is not running' } }),
    }));
    expect(outcome.status).toBe('warn');
    expect(outcome.detail).toBe(`${name}.vm does not resolve on this host (getent hosts ${name}.vm); systemd-resolved wiring: unavailable (systemd-resolved is not running)`);
    expect(outcome.hint).toContain('docs/dns-routing.md');
    expect(outcome.hint).toContain(`banger vm ssh ${name} works regardless`);
    // Port 53 on the bridge: the address alone, as a resolv.conf or dnsmasq line wants it.
    expect(outcome.hint).toContain('route .vm to 172.16.0.1 ');
  });

  it('tells a failed resolved wiring apart and gives the resolvectl commands with the port', async () => {
    const outcome = await dnsOutcome(
      async () => ({
        vm: { name: 'sandbox', ip: '172.16.0.2' },
        status: status({
          listeners: [
            { scope: 'loopback', address: '127.0.0.1', port: 5354 },
            { scope: 'bridge', address: '172.16.0.1', port: 5354 },
          ],
          resolved: { state: 'failed', detail: 'resolvectl dns banger0 172.16.0.1:5354: Permission denied' },
        }),
      }),
      async () => undefined,
    );
    expect(outcome).toMatchObject({ status: 'warn', detail: expect.stringContaining('failed (resolvectl dns banger0 172.16.0.1:5354: Permission denied)') });
    expect(outcome.hint).toContain("resolvectl dns banger0 172.16.0.1:5354; resolvectl domain banger0 '~vm'");
  });

  it('warns when <vm>.vm resolves to an address other than the VM', async () => {
    const outcome = await dnsOutcome(async () => ({ vm: { name: 'sandbox', ip: '172.16.0.2' }, status: status() }), async () => '10.9.9.9');
    expect(outcome).toMatchObject({ status: 'warn', detail: 'sandbox.vm resolves to 10.9.9.9, but vm sandbox is at 172.16.0.2' });
  });

  it('is ok naming the listener addresses when no VM has an address yet', async () => {
    let resolved = false;
    const outcome = await dnsOutcome(
      async () => ({ status: status({ listeners: [{ scope: 'loopback', address: '127.0.0.1', port: 5354 }], resolved: { state: 'pending', detail: '' } }) }),
      async () => {
        resolved = true;
        return undefined;
      },
    );
    expect(outcome).toEqual({ status: 'ok', detail: 'served on 127.0.0.1:5354 (loopback); no VM with an address to resolve yet' });
    expect(resolved).toBe(false);
  });

  it('warns with the listener problem when no VM exists and a port could not be bound', async () => {
    const outcome = await dnsOutcome(async () => ({ status: status({ problems: ['bridge 172.16.0.1:53: address in use'] }) }));
    expect(outcome).toMatchObject({ status: 'warn', detail: expect.stringContaining('address in use'), hint: expect.stringContaining(paths.logFile) });
  });

  it('warns that the daemon is not running, and how to start it, when the probe finds no daemon', async () => {
    const outcome = await dnsOutcome(async () => undefined);
    expect(outcome).toEqual({
      status: 'warn',
      detail: 'daemon not running; .vm names cannot be checked',
      hint: 'start it with banger daemon start, then run banger doctor again',
    });
  });

  it('warns instead of crashing when the probe fails', async () => {
    const outcome = await dnsOutcome(async () => Promise.reject(new Error('dns.status: unknown method')));
    expect(outcome).toMatchObject({ status: 'warn', detail: 'could not ask bangerd for its DNS status: dns.status: unknown method' });
  });

  it('is part of the report when a probe is given, never required, and absent otherwise', async () => {
    const withDns = await runDoctor({ config: defaultConfig(), paths, host: HOST, dns: async () => undefined });
    expect(withDns.checks.find((c) => c.id === 'dns')).toMatchObject({ title: '.vm names', required: false, status: 'warn' });
    expect(withDns.checks.find((c) => c.id === 'guest-dns')).toMatchObject({ title: 'guest DNS', required: false, status: 'warn' });
    const without = await runDoctor({ config: defaultConfig(), paths, host: HOST });
    expect(without.checks.some((c) => c.id === 'dns' || c.id === 'guest-dns')).toBe(false);
  });
});

describe('the guest DNS check', () => {
  const forwarder = (overrides: Partial<NonNullable<DnsStatus['forwarder']>> = {}): NonNullable<DnsStatus['forwarder']> => ({
    upstreams: ['127.0.0.53'],
    from: '/etc/resolv.conf',
    forwarded: 0,
    servfail: 0,
    dropped: 0,
    rateLimited: 0,
    cache: null,
    ...overrides,
  });
  async function guestDns(probe: DnsProbe) {
    const check = doctorChecks({ config: defaultConfig(), paths, host: HOST, dns: probe }).checks.find((c) => c.id === 'guest-dns');
    if (!check) throw new Error('no guest-dns check');
    return check.run();
  }

  it('names the upstreams guests resolve through, and where they came from', async () => {
    expect(await guestDns(async () => ({ status: status({ forwarder: forwarder({ forwarded: 12, servfail: 1, rateLimited: 0 }) }) }))).toEqual({
      status: 'ok',
      detail: "guests' names outside .vm go to 127.0.0.53 (from /etc/resolv.conf); 12 forwarded, 1 SERVFAIL, 0 rate-limited",
    });
  });

  it('warns, with the config key to set, when the host has no upstream resolver', async () => {
    expect(await guestDns(async () => ({ status: status({ forwarder: forwarder({ upstreams: [] }) }) }))).toMatchObject({
      status: 'warn',
      detail: 'no upstream resolver (from /etc/resolv.conf): guests cannot resolve names outside .vm (apt-get, git clone, npm install fail)',
      hint: expect.stringContaining('dns_upstreams'),
    });
  });

  it('warns when no forwarded query got an answer, with the last upstream error', async () => {
    const outcome = await guestDns(async () => ({
      status: status({ forwarder: forwarder({ upstreams: ['192.0.2.53'], from: 'config (dns_upstreams)', forwarded: 4, servfail: 4, lastUpstreamError: '192.0.2.53: no answer within 1000 ms' }) }),
    }));
    expect(outcome).toMatchObject({
      status: 'warn',
      detail: "guests' names go to 192.0.2.53 (from config (dns_upstreams)), but none of the 4 forwarded queries got an answer (last: 192.0.2.53: no answer within 1000 ms)",
    });
  });

  it('says it cannot check when no daemon runs', async () => {
    expect(await guestDns(async () => undefined)).toMatchObject({ status: 'warn', detail: 'daemon not running; the guest DNS forwarder cannot be checked' });
  });
});
