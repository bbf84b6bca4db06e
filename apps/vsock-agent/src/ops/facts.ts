import { readFile, statfs } from 'node:fs/promises';
import type { GuestFacts, GuestNetwork, MuxStream } from '@banger/agent';
import { AGENT_VERSION } from '../version.js';

/** `MemTotal: 123 kB` lines → bytes by key. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

/**
 * Whether /proc/net/route has a default route that is up: destination
 * 00000000, mask 00000000, flags with RTF_UP (0x1).
 */
export function hasDefaultRoute(routeTable: string): boolean {
  return routeTable
    .split('\n')
    .slice(1)
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f.length >= 8 && f[1] === '00000000' && f[7] === '00000000' && (Number.parseInt(f[3] ?? '0', 16) & 0x1) === 1;
    });
}

/** The `nameserver` addresses of a resolv.conf. */
export function parseNameservers(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((address): address is string => address !== undefined);
}

/**
 * The guest's readiness to reach out, read in-process (no `ip` or shell to
 * spawn: the host polls it every 100 ms while a guest boots). A file that
 * cannot be read counts as nothing configured yet.
 */
export async function guestNetwork(files = { route: '/proc/net/route', resolvConf: '/etc/resolv.conf' }): Promise<GuestNetwork> {
  const [route, resolv] = await Promise.all([readFile(files.route, 'utf8').catch(() => ''), readFile(files.resolvConf, 'utf8').catch(() => '')]);
  return { defaultRoute: hasDefaultRoute(route), nameservers: parseNameservers(resolv) };
}

/** Uptime, load, memory and root disk from /proc and statfs; the agent's own RSS; the network's readiness. */
export async function guestFacts(root = '/'): Promise<GuestFacts> {
  const [uptime, loadavg, meminfo, fs, network] = await Promise.all([
    readFile('/proc/uptime', 'utf8'),
    readFile('/proc/loadavg', 'utf8'),
    readFile('/proc/meminfo', 'utf8'),
    statfs(root),
    guestNetwork(),
  ]);
  const mem = parseMeminfo(meminfo);
  const load = loadavg.split(' ').slice(0, 3).map(Number) as [number, number, number];
  return {
    uptimeSeconds: Number(uptime.split(' ')[0]),
    load,
    memory: { totalBytes: mem['MemTotal'] ?? 0, availableBytes: mem['MemAvailable'] ?? mem['MemFree'] ?? 0 },
    disk: { path: root, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bfree * fs.bsize, availableBytes: fs.bavail * fs.bsize },
    agent: { version: AGENT_VERSION, pid: process.pid, rssBytes: process.memoryUsage.rss() },
    network,
  };
}

export async function factsOp(stream: MuxStream): Promise<void> {
  stream.control({ type: 'result', result: await guestFacts() });
}
