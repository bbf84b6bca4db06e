import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { DnsListener, DnsStatus } from '@banger/api';
import {
  applyResolvedWiring,
  createForwarder,
  DEFAULT_RATE_LIMIT,
  formatUpstream,
  hostUpstreams,
  keepResolvedWiring,
  revertResolvedWiring,
  startDnsServer,
  systemdResolvedActive,
  type DnsServer,
  type PrivilegedRunner,
  type ResolvedWiring,
  type VmLookup,
} from '@banger/dns';
import { userKeyFile } from '@banger/config';
import { writeFileAtomic } from '@banger/host';
import { renderSshConfig } from '@banger/ssh';
import { parseSubnet, subnetContains } from '@banger/network';
import { VmsTable } from '@banger/store';
import type { DaemonContext } from '../context.js';
import type { Service } from '../service.js';

/**
 * Port of the loopback listener, and the bridge listener's fallback when it
 * may not bind 53, unless `dns_port` is set. Not 5353: that is mDNS, which
 * avahi holds on most desktops.
 */
export const DEFAULT_DNS_PORT = 5354;
/** How often the service looks for the bridge appearing or vanishing (it is created by the first `vm create`). */
const BRIDGE_POLL_MS = 2_000;

/** Test and tuning knobs of the DNS service; the daemon uses the defaults. */
export interface DnsServiceOptions {
  /** Overrides `dns_port`/DEFAULT_DNS_PORT for the loopback listener (0: any free port, for tests). */
  loopbackPort?: number;
  bridgePollMs?: number;
  /** How often the resolved wiring is re-checked (keepResolvedWiring). */
  resolvedIntervalMs?: number;
  /** Whether systemd-resolved runs (default: detect). */
  resolvedActive?: () => boolean;
  /** Runs the resolvectl commands (default: runPrivileged; tests pass a recorder). */
  runner?: PrivilegedRunner;
  /** The resolv.conf the forwarder reads its upstreams from when dns_upstreams is unset (default /etc/resolv.conf). */
  resolvConfPath?: string;
}

interface DnsRuntime {
  status(): DnsStatus;
}

// One runtime per daemon context: tests run several daemons in one process.
const runtimes = new WeakMap<DaemonContext, DnsRuntime>();

/**
 * The `.vm` DNS server's loopback address as daemon.status reports it
 * (`127.0.0.1:5354`), or null while it does not listen. For
 * services/daemon.ts: `dns: dnsStatusField(ctx)`.
 */
export function dnsStatusField(ctx: DaemonContext): { address: string } | null {
  const loopback = runtimes.get(ctx)?.status().listeners.find((l) => l.scope === 'loopback');
  return loopback ? { address: `${loopback.address}:${loopback.port}` } : null;
}

/**
 * The lookup behind the zone: `<name>.vm` → the VM's leased address, read
 * live from the vms table on every query, so records follow create, delete
 * and rename at once. A stopped VM keeps its lease and so keeps resolving:
 * names do not flap across stop/start (docs/dns-routing.md).
 */
/**
 * When guests cannot resolve outside names — the DNS service runs and its
 * forwarder has no upstream — the one-line warning `vm run` prints; else
 * undefined. (No DNS service at all, as in some tests: nothing to say.)
 */
export function guestDnsWarning(ctx: DaemonContext): string | undefined {
  const forwarder = runtimes.get(ctx)?.status().forwarder;
  if (!forwarder || forwarder.upstreams.length > 0) return undefined;
  return `warning: the host has no upstream DNS resolver (none in ${forwarder.from}): guests can resolve only <vm>.vm names, so apt, git and mise fail in them (hint: set dns_upstreams in config.toml, e.g. ["9.9.9.9"]; banger doctor checks it)`;
}

export function vmTableLookup(ctx: DaemonContext): VmLookup {
  const ipOf = new VmsTable(ctx.db).ipLookup();
  return (name) => {
    try {
      const ip = ipOf(name);
      return ip !== undefined ? { ip } : undefined;
    } catch {
      return undefined; // the database is closing: answer NXDOMAIN rather than crash the listener
    }
  };
}

/**
 * `dns.*`: runs the authoritative `.vm` server on 127.0.0.1 (`dns_port`,
 * default 5354) from daemon start, and on the bridge's gateway address (53
 * when it may bind it, else the same fallback port) for as long as the bridge
 * exists. On systemd-resolved hosts it routes `~vm` to the bridge listener
 * (`resolvectl dns|domain|default-route`), keeps that applied across
 * resolved restarts, and reverts it when the bridge goes or the daemon stops.
 * A port it cannot bind is logged and reported by `dns.status`, never fatal.
 */
export function createDnsService(options: DnsServiceOptions = {}): Service {
  return (ctx, server) => {
    const log = ctx.log.child({ service: 'dns' });
    const lookup = vmTableLookup(ctx);
    const fallbackPort = ctx.config.dnsPort ?? DEFAULT_DNS_PORT;
    const subnet = parseSubnet(ctx.config.bridgeSubnet);
    const bridgeName = ctx.config.bridgeName;
    const resolvedActive = options.resolvedActive ?? (() => systemdResolvedActive());
    const problems: string[] = [];
    const problem = (text: string): void => {
      if (problems.includes(text)) return; // a poll that keeps failing the same way says so once
      log.warn(text);
      problems.push(text);
      if (problems.length > 20) problems.shift();
    };

    // Guests' other names go to the host's resolvers (or dns_upstreams) through the bridge
    // listener only: the loopback listener, which systemd-resolved routes ~vm to, stays
    // authoritative. The gateway itself is excluded from both sides: a resolv.conf that lists
    // banger's own listener must not make it ask itself, and the host is no guest.
    const upstreams = hostUpstreams({
      ...(ctx.config.dnsUpstreams ? { configured: ctx.config.dnsUpstreams } : {}),
      ...(options.resolvConfPath ? { resolvConfPath: options.resolvConfPath } : {}),
      exclude: [subnet.gateway],
    });
    const forwarder = createForwarder({
      upstreams: () => upstreams().upstreams,
      onUpstreamError: (upstream, error) => log.debug({ upstream: formatUpstream(upstream), err: error.message }, 'dns upstream failed'),
    });
    const fromGuest = (client: string): boolean => client !== subnet.gateway && subnetContains(subnet, client.replace(/^::ffff:/, ''));

    let loopback: DnsServer | undefined;
    let bridge: { server: DnsServer; wiring: ResolvedWiring; keeper: AbortController; kept: Promise<void> } | undefined;
    let resolved: DnsStatus['resolved'] = { state: 'pending', detail: `bridge ${bridgeName} does not exist yet` };
    let closed = false;
    // Bridge up/down transitions run one at a time, in order.
    let transitions: Promise<void> = Promise.resolve();

    const started = (async () => {
      await refreshSshInclude(ctx).catch((error: unknown) => log.warn({ err: error }, 'could not refresh the ssh config include file'));
      const port = options.loopbackPort ?? fallbackPort;
      try {
        loopback = await startDnsServer({ host: '127.0.0.1', port: port === 0 ? 0 : [port, 0], lookup, onError: (e) => log.debug({ err: e }, 'dns socket error') });
        if (port !== 0 && loopback.port !== port) problem(`dns: 127.0.0.1:${port} is taken; the loopback listener uses port ${loopback.port} instead (set dns_port in config.toml)`);
        log.info({ address: loopback.address, port: loopback.port }, '.vm DNS server listening on loopback');
      } catch (error) {
        problem(`dns: cannot listen on 127.0.0.1: ${(error as Error).message}`);
      }
      if (closed) await loopback?.close();
    })();

    const bridgeUp = async (): Promise<void> => {
      let dns: DnsServer;
      try {
        const ports = fallbackPort === 53 ? [53] : [53, fallbackPort];
        dns = await startDnsServer({
          host: subnet.gateway,
          port: ports,
          lookup,
          forward: { forwarder, allows: fromGuest },
          rateLimit: DEFAULT_RATE_LIMIT,
          onError: (e) => log.debug({ err: e }, 'dns socket error'),
        });
      } catch (error) {
        problem(`dns: cannot listen on bridge ${bridgeName} (${subnet.gateway}): ${(error as Error).message}`);
        return;
      }
      log.info({ bridge: bridgeName, address: dns.address, port: dns.port }, '.vm DNS server listening on the bridge');
      const wiring: ResolvedWiring = { bridge: bridgeName, address: dns.address, ...(dns.port !== 53 ? { port: dns.port } : {}) };
      const keeper = new AbortController();
      try {
        const outcome = await applyResolvedWiring(wiring, { active: resolvedActive, signal: keeper.signal, ...(options.runner ? { runner: options.runner } : {}) });
        resolved = outcome.applied
          ? { state: 'applied', detail: `systemd-resolved routes ~vm to ${dns.address}${dns.port !== 53 ? `:${dns.port}` : ''} on ${bridgeName}` }
          : { state: 'unavailable', detail: `${outcome.reason}: route .vm to ${dns.address}${dns.port !== 53 ? ` port ${dns.port}` : ''} by hand (docs/dns-routing.md)` };
        if (outcome.applied) log.info({ wiring }, 'systemd-resolved wired for .vm');
      } catch (error) {
        resolved = { state: 'failed', detail: `resolvectl failed: ${(error as Error).message}` };
        log.warn({ err: error, wiring }, 'could not wire systemd-resolved for .vm');
      }
      const kept = keepResolvedWiring(wiring, {
        signal: keeper.signal,
        active: resolvedActive,
        ...(options.runner ? { runner: options.runner } : {}),
        ...(options.resolvedIntervalMs ? { intervalMs: options.resolvedIntervalMs } : {}),
        onReapplied: () => {
          resolved = { state: 'applied', detail: `systemd-resolved routes ~vm to ${dns.address} on ${bridgeName} (re-applied after resolved lost it)` };
          log.info({ wiring }, 'systemd-resolved forgot the .vm wiring; re-applied');
        },
        onError: (error) => log.warn({ err: error }, 'checking the systemd-resolved wiring failed'),
      });
      bridge = { server: dns, wiring, keeper, kept };
    };

    const bridgeDown = async (revert: boolean): Promise<void> => {
      const current = bridge;
      if (!current) return;
      bridge = undefined;
      current.keeper.abort();
      await current.kept;
      await current.server.close();
      if (revert && resolved.state === 'applied') await revertResolvedWiring(bridgeName, { active: resolvedActive, ...(options.runner ? { runner: options.runner } : {}) }).catch(() => undefined);
      resolved = { state: 'pending', detail: `bridge ${bridgeName} does not exist` };
      log.info({ bridge: bridgeName }, '.vm DNS server left the bridge');
    };

    // os.networkInterfaces() hides links without carrier, and a bridge with no
    // tap attached (the last VM just deleted) has none: judging by it would
    // close the server while the address is still there. The link's sysfs
    // entry says whether the bridge exists; binding says whether it holds the
    // gateway address (a failed bind is recorded once and retried next poll).
    const bridgeExists = (): boolean =>
      existsSync(join('/sys/class/net', bridgeName)) ||
      (networkInterfaces()[bridgeName] ?? []).some((a) => a.family === 'IPv4' && a.address === subnet.gateway);
    const poll = (): void => {
      transitions = transitions.then(async () => {
        if (closed) return;
        const exists = bridgeExists();
        // The link is gone, so resolved has already dropped its settings: nothing to revert.
        if (!exists && bridge) await bridgeDown(false);
        else if (exists && !bridge) await bridgeUp();
      });
    };
    poll();
    const timer = setInterval(poll, options.bridgePollMs ?? BRIDGE_POLL_MS);
    timer.unref();

    runtimes.set(ctx, {
      status: () => {
        const listeners: DnsListener[] = [];
        if (loopback) listeners.push({ scope: 'loopback', address: loopback.address, port: loopback.port });
        if (bridge) listeners.push({ scope: 'bridge', address: bridge.server.address, port: bridge.server.port });
        const source = upstreams();
        const stats = forwarder.stats();
        return {
          listeners,
          bridge: { name: bridgeName, address: subnet.gateway, up: bridge !== undefined },
          resolved,
          problems: [...problems],
          forwarder: {
            upstreams: source.upstreams.map(formatUpstream),
            from: source.from,
            forwarded: stats.forwarded,
            servfail: stats.servfail,
            dropped: stats.dropped,
            rateLimited: bridge?.server.rateLimited() ?? 0,
            cache: stats.cache,
            ...(stats.lastUpstreamError ? { lastUpstreamError: stats.lastUpstreamError } : {}),
          },
        };
      },
    });
    server.handle('dns.status', () => runtimes.get(ctx)!.status());

    return async () => {
      closed = true;
      clearInterval(timer);
      await started;
      await transitions;
      await bridgeDown(true);
      await loopback?.close();
      loopback = undefined;
    };
  };
}

/**
 * Rewrites banger's `Host *.vm` ssh include file (written by `banger
 * ssh-config install`) from the current config, so a changed ssh_key_path
 * takes effect; does nothing when it was never installed.
 */
export async function refreshSshInclude(ctx: DaemonContext): Promise<void> {
  const file = join(ctx.paths.sshDir, 'config');
  if (!existsSync(file)) return;
  const content = renderSshConfig({ keyPath: userKeyFile(ctx.paths, ctx.config), knownHostsPath: ctx.paths.knownHostsFile });
  await writeFileAtomic(file, content, 0o600);
}

/** The DNS service with the daemon's defaults. */
export const dnsService: Service = createDnsService();
