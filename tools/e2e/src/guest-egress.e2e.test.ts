import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { ApiClient } from '@banger/api';
import { resolvePaths } from '@banger/config';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';
import { OUTSIDE_ADDRESS, startOutside, type Outside } from './helpers/outside.js';
import { findVmRunImage } from './vm-run-image.js';

const BOOT_MS = 8 * 60_000;
const OUTSIDE = OUTSIDE_ADDRESS;

/**
 * Guests reach the outside world through the host: names resolved by the
 * daemon's forwarder on the bridge, packets NATed out. The "outside" is a
 * second network namespace made here (a veth away from the e2e namespace, its
 * default route) running a DNS server for `mirror.test` and an HTTP server;
 * the daemon asks that DNS server (`dns_upstreams`). One VM serves every
 * read-only check.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('guest egress: DNS forwarding and NAT to a simulated upstream', () => {
  let home: BangerHome;
  let outside: Outside | undefined;
  let scratch: string;
  const vm = (command: string, timeoutMs = BOOT_MS): Promise<CliResult> => home.cli(['vm', 'run', '--name', 'egress', '--image', 'vm-run-git', '--', 'bash', '-c', command], { timeoutMs });

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    const gitImage = await findVmRunImage();
    if (!gitImage) throw new Error('the vm-run-git image was not prepared (run the e2e prepare step)');
    scratch = mkdtempSync(join(tmpdir(), 'banger-egress-'));
    writeFileSync(join(scratch, 'hello.txt'), 'hello from the outside\n');

    outside = await startOutside(scratch);

    home = new BangerHome(await buildBangerBundles(), 'begr-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'vm-run-git', dir: gitImage });
    await home.writeConfig(['hypervisor = "qemu"', `dns_upstreams = ["${OUTSIDE}"]`, '[vm_defaults]', 'vcpu = 2', 'memory_mib = 1024', ''].join('\n'));
  }, 300_000);

  afterAll(async () => {
    if (home) {
      for (const name of ['egress', 'bystander']) await home.cli(['vm', 'delete', name, '--force'], { timeoutMs: 120_000 }).catch(() => undefined);
      await home.cli(['daemon', 'stop'], { timeoutMs: 60_000 }).catch(() => undefined);
      home.remove();
    }
    await outside?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 180_000);

  it('resolves an upstream name in the guest through the bridge forwarder', async () => {
    const r = await vm('getent hosts mirror.test');
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${home.consoleTail('egress', 30)}`).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^${OUTSIDE.replace(/\./g, '\\.')}\\s+mirror\\.test$`));
  }, BOOT_MS + 60_000);

  it('fetches a file from the upstream HTTP server by name, through NAT', async () => {
    const r = await vm('exec 3<>/dev/tcp/mirror.test/8080 && printf "GET /hello.txt HTTP/1.0\\r\\nHost: mirror.test\\r\\n\\r\\n" >&3 && cat <&3');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.[01] 200/);
    expect(r.stdout).toContain('hello from the outside');
  });

  it('answers a name the upstream does not know with NXDOMAIN at once, not a timeout', async () => {
    const r = await vm('s=$(date +%s%N); getent hosts nope.mirror.test; rc=$?; echo "rc=$rc ms=$(( ($(date +%s%N) - s) / 1000000 ))"');
    const [, rc, ms] = /rc=(\d+) ms=(\d+)/.exec(r.stdout) ?? [];
    expect(rc).toBe('2'); // getent: key not found
    expect(Number(ms)).toBeLessThan(3_000);
  });

  it('refuses to forward for a client outside the bridge subnet, and the loopback listener stays authoritative-only', async () => {
    const fromOutside = await run('ip', ['netns', 'exec', outside!.ns, 'dig', '@172.16.0.1', 'mirror.test', '+tries=1', '+time=3'], { allowFailure: true });
    expect(fromOutside.stdout).toMatch(/status: REFUSED/);
    const status = await home.cli(['daemon', 'status', '--json'], { timeoutMs: 60_000 });
    const loopback = (JSON.parse(status.stdout) as { dns: { address: string } | null }).dns?.address;
    expect(loopback).toMatch(/^127\.0\.0\.1:\d+$/);
    const [, port] = loopback!.split(':');
    const viaLoopback = await run('dig', ['@127.0.0.1', '-p', port!, 'mirror.test', '+tries=1', '+time=3'], { allowFailure: true });
    expect(viaLoopback.stdout).toMatch(/status: REFUSED/);
  });

  it('rate-limits a burst of queries from one guest without affecting another guest, and survives malformed packets', async () => {
    const bystander = (command: string): Promise<CliResult> => home.cli(['vm', 'run', '--name', 'bystander', '--image', 'vm-run-git', '--', 'bash', '-c', command], { timeoutMs: BOOT_MS });
    const booted = await bystander('true');
    expect(booted.exitCode, booted.stderr).toBe(0);
    const client = await ApiClient.connect(resolvePaths(home.env()).socketPath);
    try {
      const limitedBefore = (await client.call('dns.status', {})).forwarder?.rateLimited ?? 0;
      const daemonPid = await home.daemonPid();
      const rssKib = (): number => Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${daemonPid}/status`, 'utf8'))?.[1]);
      const rssBefore = rssKib();
      // One guest floods the bridge listener: well-formed queries for mirror.test, then random bytes and truncated headers.
      const query = String.raw`\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06mirror\x04test\x00\x00\x01\x00\x01`;
      const flood = vm(
        `ns=$(awk '/^nameserver/ { print $2; exit }' /etc/resolv.conf); exec 3>/dev/udp/$ns/53; ` +
          `for i in $(seq 1 3000); do printf '${query}' >&3; done; ` +
          `for i in $(seq 1 200); do head -c $((i % 40 + 1)) /dev/urandom >&3; printf '\x12\x34\x01' >&3; done; echo flooded`,
      );
      // Meanwhile the other guest keeps resolving, each lookup within two seconds.
      const lookups = bystander('fails=0; for i in $(seq 1 20); do timeout 2 getent hosts mirror.test >/dev/null || fails=$((fails+1)); sleep 0.2; done; echo "fails=$fails"');
      const [flooded, looked] = await Promise.all([flood, lookups]);
      expect(flooded.stdout, flooded.stderr).toContain('flooded');
      expect(looked.stdout.trim(), looked.stderr).toBe('fails=0');
      const status = await client.call('dns.status', {});
      expect(status.forwarder?.rateLimited ?? 0).toBeGreaterThan(limitedBefore);
      // The documented bound (docs/dns-routing.md): the forwarder holds at most ~24 MiB whatever a guest sends.
      expect(rssKib() - rssBefore).toBeLessThan(32 * 1024);
      // And the flooding guest is served again once its burst is over.
      const after = await vm('sleep 3; getent hosts mirror.test');
      expect(after.exitCode, after.stderr).toBe(0);
    } finally {
      client.close();
    }
  });
});
