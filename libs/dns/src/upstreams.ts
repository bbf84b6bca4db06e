import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

/** A DNS server the forwarder asks. */
export interface Upstream {
  host: string;
  port: number;
}

/** systemd-resolved's stub listener: reachable from the daemon (it runs on the host), not from guests. */
export const RESOLVED_STUB = '127.0.0.53';

/**
 * Parses an upstream as written in `dns_upstreams`: `1.1.1.1`, `1.1.1.1:5353`,
 * `::1`, `[::1]:5353` or `fe80::1%eth0`. Returns undefined for anything else.
 */
export function parseUpstream(text: string): Upstream | undefined {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(trimmed);
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(trimmed);
  const [host, portText] = bracketed ? [bracketed[1], bracketed[2]] : v4 ? [v4[1], v4[2]] : [trimmed, undefined];
  if (!host || isIP(host.replace(/%[\w.-]+$/, '')) === 0) return undefined;
  const port = portText === undefined ? 53 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
  return { host, port };
}

/** How an upstream reads in messages: `1.1.1.1`, `1.1.1.1:5353`, `[::1]:53`. */
export function formatUpstream(upstream: Upstream): string {
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  return upstream.port === 53 && !upstream.host.includes(':') ? host : `${host}:${upstream.port}`;
}

/** The nameservers of a resolv.conf text, in order (port 53: resolv.conf has no port syntax). */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!match?.[1]) continue;
    const host = match[1];
    if (isIP(host.replace(/%[\w.-]+$/, '')) === 0) continue;
    out.push({ host, port: 53 });
  }
  return out;
}

/** Where the forwarder's upstreams came from, for `dns.status` and doctor. */
export interface UpstreamSource {
  upstreams: Upstream[];
  /** `config` (dns_upstreams), or the resolv.conf path they were read from. */
  from: string;
  /** True when resolv.conf points at systemd-resolved's stub (the daemon asks the stub: it keeps the host's split DNS and VPN routes). */
  resolvedStub: boolean;
}

/** Options of hostUpstreams. */
export interface HostUpstreamOptions {
  /** `dns_upstreams` from config.toml; when set it wins over resolv.conf. */
  configured?: readonly string[];
  resolvConfPath?: string;
  /**
   * Addresses that are banger's own listeners (the bridge gateway): a
   * resolv.conf that lists one of them (the recipe in docs/dns-routing.md
   * does) must not make the forwarder ask itself.
   */
  exclude?: readonly string[];
  /** How long a read of resolv.conf is reused before its mtime is checked again (ms). */
  recheckMs?: number;
}

/**
 * The host's upstream resolvers, re-read when resolv.conf changes (NetworkManager
 * and DHCP rewrite it; `ip netns exec` bind-mounts a per-namespace one). A
 * stub nameserver of systemd-resolved (127.0.0.53) is kept as is: the daemon
 * runs on the host and can reach it, and it follows the host's per-link DNS.
 */
export function hostUpstreams(options: HostUpstreamOptions = {}): () => UpstreamSource {
  const path = options.resolvConfPath ?? '/etc/resolv.conf';
  const exclude = new Set(options.exclude ?? []);
  const recheckMs = options.recheckMs ?? 2_000;
  if (options.configured && options.configured.length > 0) {
    const upstreams = options.configured.map((text) => parseUpstream(text)).filter((u): u is Upstream => u !== undefined);
    const fixed: UpstreamSource = { upstreams, from: 'config (dns_upstreams)', resolvedStub: false };
    return () => fixed;
  }
  let cached: UpstreamSource = { upstreams: [], from: path, resolvedStub: false };
  let mtime = -1;
  let checkedAt = -Infinity;
  return () => {
    const now = Date.now();
    if (now - checkedAt < recheckMs) return cached;
    checkedAt = now;
    try {
      const stat = statSync(path);
      if (stat.mtimeMs === mtime) return cached;
      mtime = stat.mtimeMs;
      const upstreams = parseResolvConf(readFileSync(path, 'utf8')).filter((u) => !exclude.has(u.host));
      cached = { upstreams, from: path, resolvedStub: upstreams.some((u) => u.host === RESOLVED_STUB) };
    } catch {
      mtime = -1;
      cached = { upstreams: [], from: path, resolvedStub: false };
    }
    return cached;
  };
}
