import type { DnsStatus } from '@banger/api';
import type { CheckContext } from '../context.js';
import type { CheckOutcome, DnsProbe, DoctorCheck } from '../types.js';

const ROUTING_DOC = 'docs/dns-routing.md';

/**
 * Whether `<vm>.vm` resolves through the host's own resolver (`getent hosts`,
 * the path ssh, curl and browsers take), which proves the `.vm` routing works
 * end to end. Not required: `banger vm ssh` dials the guest IP and works
 * without it. The probe (built by the CLI only when bangerd already runs)
 * gives the daemon's `dns.status` and a VM to look up.
 */
export function dnsCheck(ctx: CheckContext, probe: DnsProbe): DoctorCheck {
  return {
    id: 'dns',
    title: '.vm names',
    required: false,
    async run() {
      let found: Awaited<ReturnType<DnsProbe>>;
      try {
        found = await probe();
      } catch (error) {
        return {
          status: 'warn',
          detail: `could not ask bangerd for its DNS status: ${error instanceof Error ? error.message : String(error)}`,
          hint: `see ${ctx.paths.logFile}`,
        };
      }
      if (!found) {
        return { status: 'warn', detail: 'daemon not running; .vm names cannot be checked', hint: 'start it with banger daemon start, then run banger doctor again' };
      }
      const { status, vm } = found;
      const served = `served on ${listenerList(status)}`;
      if (!vm) {
        const problem = status.problems.at(-1);
        if (problem) return { status: 'warn', detail: `${served}; ${problem}`, hint: `see ${ctx.paths.logFile}` };
        return { status: 'ok', detail: `${served}; no VM with an address to resolve yet` };
      }
      const name = `${vm.name}.vm`;
      const answer = await ctx.env.resolveHost(name);
      if (answer === vm.ip) return { status: 'ok', detail: `${name} resolves to ${vm.ip} (${served})` };
      if (answer !== undefined) {
        return {
          status: 'warn',
          detail: `${name} resolves to ${answer}, but vm ${vm.name} is at ${vm.ip}`,
          hint: `something other than bangerd answers for .vm (an /etc/hosts line, another DNS server); see ${ROUTING_DOC}; banger vm ssh ${vm.name} works regardless`,
        };
      }
      return notResolving(name, vm.name, status);
    },
  };
}

/** Why `<vm>.vm` does not resolve, by the state of the systemd-resolved wiring, and what to do. */
function notResolving(name: string, vmName: string, status: DnsStatus): CheckOutcome {
  const { resolved, bridge } = status;
  const server = serverAddress(status);
  const regardless = `banger vm ssh ${vmName} works regardless`;
  const detail = `${name} does not resolve on this host (getent hosts ${name}); systemd-resolved wiring: ${resolved.state}${resolved.detail ? ` (${resolved.detail})` : ''}`;
  switch (resolved.state) {
    case 'unavailable':
      return {
        status: 'warn',
        detail,
        hint: `systemd-resolved is not running here: route .vm to ${server} with a recipe from ${ROUTING_DOC} (dnsmasq, NetworkManager, /etc/resolv.conf); ${regardless}`,
      };
    case 'pending':
      return {
        status: 'warn',
        detail,
        hint: `the bridge ${bridge.name} does not exist yet (it comes up with the first running VM), so nothing routes .vm to bangerd; check again once a VM runs; see ${ROUTING_DOC}; ${regardless}`,
      };
    case 'failed':
      return {
        status: 'warn',
        detail,
        hint: `bangerd could not wire systemd-resolved; apply it by hand (resolvectl dns ${bridge.name} ${server}; resolvectl domain ${bridge.name} '~vm') as in ${ROUTING_DOC}; ${regardless}`,
      };
    case 'applied':
      return {
        status: 'warn',
        detail,
        hint: `resolved routes .vm to ${server} but the lookup fails: check resolvectl status ${bridge.name} and that /etc/nsswitch.conf lists resolve or dns for hosts; see ${ROUTING_DOC}; ${regardless}`,
      };
  }
}

/** Every listener as `address:port (scope)`, or a note that none is open. */
function listenerList(status: DnsStatus): string {
  if (status.listeners.length === 0) return 'no address (no listener is open)';
  return status.listeners.map((l) => `${l.address}:${l.port} (${l.scope})`).join(', ');
}

/** Where a host resolver should send `.vm`: the bridge listener, else loopback, as `address[:port]`. */
function serverAddress(status: DnsStatus): string {
  const listener = status.listeners.find((l) => l.scope === 'bridge') ?? status.listeners.find((l) => l.scope === 'loopback');
  if (!listener) return `${status.bridge.address}`;
  return listener.port === 53 ? listener.address : `${listener.address}:${listener.port}`;
}
