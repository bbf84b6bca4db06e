import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { findExecutable, run, runPrivileged, type RunOptions, type RunResult } from '@banger/host';

/** Where the `.vm` zone is served for one bridge. */
export interface ResolvedWiring {
  /** The bridge interface name, e.g. `banger0`. */
  bridge: string;
  /** The DNS server's address on the bridge. */
  address: string;
  /** Its port, when not 53. */
  port?: number;
}

/** One host command line. */
export interface HostCommand {
  command: string;
  args: string[];
}

/**
 * The resolvectl commands that route `.vm` lookups to banger's server over
 * the bridge link: the link's DNS server, `~vm` as a routing-only domain, and
 * no default route, so every other name keeps using the host's usual servers.
 */
export function resolvedCommands(wiring: ResolvedWiring): HostCommand[] {
  const host = isIPv6(wiring.address) ? `[${wiring.address}]` : wiring.address;
  const server = wiring.port && wiring.port !== 53 ? `${host}:${wiring.port}` : wiring.address;
  return [
    { command: 'resolvectl', args: ['dns', wiring.bridge, server] },
    { command: 'resolvectl', args: ['domain', wiring.bridge, '~vm'] },
    { command: 'resolvectl', args: ['default-route', wiring.bridge, 'false'] },
  ];
}

/**
 * True when systemd-resolved runs here: resolvectl exists and resolved's
 * runtime directory has its varlink socket or stub resolv.conf.
 */
export function systemdResolvedActive(runDir = '/run/systemd/resolve'): boolean {
  if (!findExecutable('resolvectl')) return false;
  return existsSync(`${runDir}/io.systemd.Resolve`) || existsSync(`${runDir}/stub-resolv.conf`);
}

/** Runs a privileged host command (runPrivileged by default; tests pass a recorder). */
export type PrivilegedRunner = (command: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** What applyResolvedWiring did. */
export type WiringOutcome = { applied: true } | { applied: false; reason: string };

/**
 * Wires `.vm` resolution for the bridge through systemd-resolved, or reports
 * why it did not (resolved absent: the user follows a recipe in
 * docs/dns-routing.md instead). The settings live only as long as the link
 * and the resolved process: call it again whenever the bridge is (re)created
 * and after systemd-resolved restarts.
 */
export async function applyResolvedWiring(
  wiring: ResolvedWiring,
  options: { signal?: AbortSignal; active?: () => boolean; runner?: PrivilegedRunner } = {},
): Promise<WiringOutcome> {
  const active = options.active ?? (() => systemdResolvedActive());
  if (!active()) return { applied: false, reason: 'systemd-resolved is not running on this host' };
  const runner = options.runner ?? runPrivileged;
  for (const step of resolvedCommands(wiring)) await runner(step.command, step.args, { signal: options.signal });
  return { applied: true };
}

/** Drops banger's per-link DNS settings (`resolvectl revert <bridge>`); a no-op without resolved. */
export async function revertResolvedWiring(
  bridge: string,
  options: { active?: () => boolean; runner?: PrivilegedRunner } = {},
): Promise<void> {
  if (!(options.active ?? (() => systemdResolvedActive()))()) return;
  await (options.runner ?? runPrivileged)('resolvectl', ['revert', bridge], { allowFailure: true });
}

/**
 * True when resolved currently lists banger's server for the bridge
 * (`resolvectl dns <bridge>` prints it). False when resolved lost the setting,
 * e.g. after it restarted, or when the link is unknown to it.
 */
export async function resolvedWiringApplied(wiring: ResolvedWiring, options: { runner?: PrivilegedRunner } = {}): Promise<boolean> {
  const result = await (options.runner ?? run)('resolvectl', ['dns', wiring.bridge], { allowFailure: true });
  if (result.exitCode !== 0) return false;
  const expected = resolvedCommands(wiring)[0]?.args[2] ?? wiring.address;
  const listed = result.stdout.slice(result.stdout.indexOf(':') + 1).trim().split(/\s+/);
  return listed.some((server) => server === expected || server.split('#')[0] === expected);
}

/**
 * Keeps the wiring in place until `signal` aborts: checks every `intervalMs`
 * (default 30 s) and re-applies it when resolved forgot it (a resolved
 * restart drops per-link settings). Errors go to `onError` and never end the
 * loop. Resolves when aborted; does nothing without systemd-resolved.
 */
export async function keepResolvedWiring(
  wiring: ResolvedWiring,
  options: { signal: AbortSignal; intervalMs?: number; active?: () => boolean; runner?: PrivilegedRunner; onReapplied?: () => void; onError?: (error: Error) => void },
): Promise<void> {
  const active = options.active ?? (() => systemdResolvedActive());
  while (!options.signal.aborted) {
    try {
      if (active() && !(await resolvedWiringApplied(wiring, { runner: options.runner }))) {
        const outcome = await applyResolvedWiring(wiring, { active, runner: options.runner, signal: options.signal });
        if (outcome.applied) options.onReapplied?.();
      }
    } catch (error) {
      if (options.signal.aborted) break;
      options.onError?.(error as Error);
    }
    await sleep(options.intervalMs ?? 30_000, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

/**
 * What the host's own resolver (nsswitch: files, resolved, DNS) returns for
 * `name`, via `getent hosts`; undefined when it does not resolve. For
 * `banger doctor`: `<vm>.vm` resolving proves the routing works end to end.
 */
export async function hostResolves(name: string, options: { timeoutMs?: number } = {}): Promise<string | undefined> {
  const result = await run('getent', ['hosts', name], { allowFailure: true, timeoutMs: options.timeoutMs ?? 5_000 }).catch(() => undefined);
  if (!result || result.exitCode !== 0) return undefined;
  return result.stdout.trim().split(/\s+/)[0] || undefined;
}
