import type { DnsProbe, DoctorCheck } from '../types.js';

/**
 * Whether guests can resolve names outside `.vm`: the daemon's bridge
 * forwarder needs at least one upstream (`dns_upstreams`, or the host's
 * resolv.conf), and its counters say whether the upstreams answer. Reads the
 * daemon's `dns.status` only: the doctor sends no query of its own to the
 * host's resolvers.
 */
export function guestDnsCheck(probe: DnsProbe): DoctorCheck {
  return {
    id: 'guest-dns',
    title: 'guest DNS',
    required: false,
    async run() {
      const found = await probe().catch(() => undefined);
      const forwarder = found?.status.forwarder;
      if (!found) return { status: 'warn', detail: 'daemon not running; the guest DNS forwarder cannot be checked', hint: 'start it with banger daemon start, then run banger doctor again' };
      if (!forwarder) return { status: 'warn', detail: 'this daemon does not report a DNS forwarder', hint: 'restart the daemon (banger daemon restart) after upgrading banger' };
      if (forwarder.upstreams.length === 0) {
        return {
          status: 'warn',
          detail: `no upstream resolver (from ${forwarder.from}): guests cannot resolve names outside .vm (apt-get, git clone, npm install fail)`,
          hint: 'give the host a nameserver in /etc/resolv.conf, or set dns_upstreams = ["<resolver address>"] in config.toml',
        };
      }
      const upstreams = `${forwarder.upstreams.join(', ')} (from ${forwarder.from})`;
      if (forwarder.forwarded > 0 && forwarder.servfail === forwarder.forwarded) {
        return {
          status: 'warn',
          detail: `guests' names go to ${upstreams}, but none of the ${forwarder.forwarded} forwarded queries got an answer${forwarder.lastUpstreamError ? ` (last: ${forwarder.lastUpstreamError})` : ''}`,
          hint: 'check that the host can reach those resolvers, or set dns_upstreams in config.toml',
        };
      }
      const counters = forwarder.forwarded > 0 ? `; ${forwarder.forwarded} forwarded, ${forwarder.servfail} SERVFAIL, ${forwarder.rateLimited} rate-limited` : '';
      return { status: 'ok', detail: `guests' names outside .vm go to ${upstreams}${counters}` };
    },
  };
}
