import { InternalError } from '@banger/errors';
/**
 * What a guest restored from a warm template is given to become this VM,
 * where the cold path gets it from the kernel command line and the rootfs
 * copy (docs/vm-lifecycle.md, guest contract). Under TCG every process the
 * guest starts costs 0.2–0.9 s, so the files are made here on the host and
 * written by the agent in-process (`identityFiles`), and only what needs a
 * syscall no file gives runs in the guest, as one short script
 * (`IDENTITY_SCRIPT`: two processes, sh and ip).
 */

/** The address a VM gets, as the cold path's `ip=` gives it. */
export interface GuestAddress {
  ip: string;
  prefix: number;
  gateway: string;
  dns: string;
}

/** One file the agent writes (atomically: a temp file renamed into place). */
export interface IdentityFile {
  path: string;
  content: string;
  mode: number;
}

/**
 * The `.network` file systemd-network-generator writes for `ip=…:eth0:…`
 * (`/run/systemd/network/70-eth0.network`), with this VM's address: written
 * under the same name, it replaces the template's. In images with
 * `banger-network.service` networkd did not run in the template (the
 * one-shot configured eth0 and networkd skips on its marker, which the
 * restored /run still holds), so nothing reads it; it is written for the
 * fallback, an image where networkd does configure eth0.
 */
export const NETWORK_FILE = '/run/systemd/network/70-eth0.network';

export function networkFileText(address: GuestAddress): string {
  return `[Match]\nName=eth0\n\n[Network]\nAddress=${address.ip}/${address.prefix}\nGateway=${address.gateway}\nDNS=${address.dns}\n`;
}

/** `/etc/resolv.conf` as `banger-resolv.service` writes it on a cold boot. */
export function resolvConfText(dns: string): string {
  return `# Written by banger when this VM was restored from its warm template.\nnameserver ${dns}\n`;
}

/** `/etc/hosts` with its `127.0.1.1` line naming `name` (replaced, or added when there is none). */
export function hostsWithName(hosts: string, name: string): string {
  const lines = hosts.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const at = lines.findIndex((line) => /^127\.0\.1\.1[ \t]/.test(line));
  if (at >= 0) lines[at] = `127.0.1.1 ${name}`;
  else lines.push(`127.0.1.1 ${name}`);
  return `${lines.join('\n')}\n`;
}

/** The files of a VM's identity: network, resolver, names and machine-id (the host key and /root are written apart). */
export function identityFiles(options: { name: string; machineId: string; address: GuestAddress; hosts: string }): IdentityFile[] {
  return [
    { path: NETWORK_FILE, content: networkFileText(options.address), mode: 0o644 },
    { path: '/etc/resolv.conf', content: resolvConfText(options.address.dns), mode: 0o644 },
    { path: '/etc/hostname', content: `${options.name}\n`, mode: 0o644 },
    { path: '/etc/hosts', content: hostsWithName(options.hosts, options.name), mode: 0o644 },
    { path: '/etc/machine-id', content: `${options.machineId}\n`, mode: 0o444 },
  ];
}

/**
 * The IPv6 link-local address the kernel derives from a MAC (EUI-64: the
 * universal/local bit flipped, ff:fe in the middle), as a cold boot's eth0 has it.
 */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((part) => Number.parseInt(part, 16));
  if (b.length !== 6 || b.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new InternalError('WARM_IDENTITY_FAILED', `not a MAC address: ${mac}`);
  const [b0, b1, b2, b3, b4, b5] = b as [number, number, number, number, number, number];
  const groups = [((b0 ^ 0x02) << 8) | b1, (b2 << 8) | 0xff, (0xfe << 8) | b3, (b4 << 8) | b5];
  return `fe80::${groups.map((g) => g.toString(16)).join(':')}`;
}

/**
 * The `ip -batch` input that moves eth0 to this VM without taking the link
 * down: its MAC (virtio-net tells QEMU), the template's addresses flushed,
 * this VM's address, the link-local address of its MAC and the default
 * route. Not bouncing the link matters: where networkd runs (the fallback
 * above), the guest's networkd (no D-Bus in the
 * images, so `networkctl reload` cannot reach it) still holds the template's
 * `.network` in memory and re-applies the template's address on every link
 * up; without a link event it leaves eth0 alone.
 */
export function ipBatch(mac: string, address: GuestAddress): string {
  return [
    `link set dev eth0 address ${mac}`,
    'addr flush dev eth0',
    `addr add ${address.ip}/${address.prefix} dev eth0`,
    `addr add ${linkLocalOf(mac)}/64 dev eth0`,
    `route replace default via ${address.gateway} dev eth0`,
    '',
  ].join('\n');
}

/**
 * The guest's part, run after the files are in place: networkd told to
 * re-read its files where it can be (a system bus: images without D-Bus
 * have none, and `networkctl` would only fail after a process start), then
 * `ip -batch` (from stdin: `ipBatch`), the kernel's hostname (the file under
 * /proc, no `hostname` process), and sshd told to re-execute (SIGHUP: it
 * re-reads the host key written just before; a restart when there is no pid
 * file). Argument: the hostname. Everything but networkctl and ip is a
 * shell builtin.
 */
export const IDENTITY_SCRIPT = `set -eu
name=$1
if [ -S /run/dbus/system_bus_socket ] && command -v networkctl >/dev/null 2>&1; then networkctl reload >/dev/null 2>&1 || true; fi
ip -batch -
printf '%s' "$name" > /proc/sys/kernel/hostname
pid=
if [ -s /run/sshd.pid ]; then read -r pid < /run/sshd.pid || true; fi
if [ -n "$pid" ] && kill -HUP "$pid" 2>/dev/null; then :
elif systemctl is-active -q ssh.service 2>/dev/null; then systemctl restart ssh.service
elif systemctl is-active -q sshd.service 2>/dev/null; then systemctl restart sshd.service; fi
`;

/**
 * The IPv4 addresses the guest answers for, other than loopback, from
 * `/proc/net/fib_trie` (read in-process by the agent: no `ip` to start). A
 * local address is a leaf followed by a `/32 host LOCAL` line. The guest has
 * lo and eth0 only, so these are eth0's.
 */
export function localIpv4Addresses(fibTrie: string): string[] {
  const found = new Set<string>();
  let leaf: string | undefined;
  for (const line of fibTrie.split('\n')) {
    const node = /^\s*\|--\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (node) {
      leaf = node[1];
      continue;
    }
    if (leaf && /^\s*\/32 host LOCAL\s*$/.test(line) && !leaf.startsWith('127.')) found.add(leaf);
  }
  return [...found].sort();
}
