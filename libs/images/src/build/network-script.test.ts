import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { NETWORK_MARKER, NETWORK_SCRIPT } from './guest-config.js';

// The real `ip` (iproute2) in a network namespace of its own, with a veth link
// pair whose one end is named eth0: nothing outside the namespace is touched.
const needs = prerequisites(['ip', 'unshare']);
const isRoot = process.getuid?.() === 0;

/** Runs the guest's network one-shot with /proc/cmdline and /sys/class/net redirected; returns what `ip` then shows. */
function runScript(dir: string, cmdline: string, links: string[] = ['eth0']): { addr: string; route: string; lo: string; marker: boolean } {
  writeFileSync(join(dir, 'cmdline'), `${cmdline}\n`);
  mkdirSync(join(dir, 'net'), { recursive: true });
  for (const link of links) writeFileSync(join(dir, 'net', link), '');
  const script = NETWORK_SCRIPT.replaceAll('/proc/cmdline', join(dir, 'cmdline'))
    .replaceAll('/sys/class/net/', `${join(dir, 'net')}/`)
    .replaceAll(NETWORK_MARKER, join(dir, 'marker'));
  writeFileSync(join(dir, 'configure-network'), script, { mode: 0o755 });
  const out = execFileSync('unshare', ['--net', 'sh', '-c', 'ip link add eth0 type veth peer name eth1 && ip link set eth1 up && "$1" && echo "@@" && ip -4 -o addr show dev eth0 && echo "@@" && ip -4 route show default && echo "@@" && ip -o link show lo', 'sh', join(dir, 'configure-network')], { encoding: 'utf8' });
  const [, addr = '', route = '', lo = ''] = out.split('@@\n');
  return { addr, route, lo, marker: existsSync(join(dir, 'marker')) };
}

describe.skipIf(needs.skip || !isRoot)(`the network one-shot baked into images (real ip in a private netns)${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'banger-net-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("gives eth0 the ip= address, brings it and lo up, routes by the gateway, and leaves the marker networkd skips on", () => {
    const out = runScript(tempDir(), 'console=ttyS0 root=/dev/vda rw net.ifnames=0 ip=172.16.0.5::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1 systemd.hostname=sandbox');
    expect(out.addr).toMatch(/ inet 172\.16\.0\.5\/24 /);
    expect(out.route.trim()).toBe('default via 172.16.0.1 dev eth0');
    expect(out.lo).toMatch(/<LOOPBACK,UP,/);
    expect(out.marker).toBe(true);
  });

  it('turns any netmask into its prefix length', () => {
    const out = runScript(tempDir(), 'ip=10.1.2.3::10.1.0.1:255.255.240.0:box:eth0:off');
    expect(out.addr).toMatch(/ inet 10\.1\.2\.3\/20 /);
    expect(out.route.trim()).toBe('default via 10.1.0.1 dev eth0');
  });

  it('leaves the link to networkd (no marker, nothing configured) without ip= or with a netmask it does not read', () => {
    for (const cmdline of ['console=ttyS0 root=/dev/vda', 'ip=10.1.2.3::10.1.0.1:255.0.255.0:box:eth0:off', 'ip=10.1.2.3::10.1.0.1:255.255.0:box:eth0:off', 'ip=dhcp']) {
      const out = runScript(tempDir(), cmdline);
      expect(out.addr.trim()).toBe('');
      expect(out.marker).toBe(false);
    }
  });
});
