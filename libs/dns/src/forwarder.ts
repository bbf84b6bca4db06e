import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { AnswerCache, cacheKey, DEFAULT_CACHE_LIMITS, type CacheLimits } from './answer-cache.js';
import { ExchangeError, exchangeTcp, exchangeUdp } from './exchange.js';
import { formatUpstream, type Upstream } from './upstreams.js';
import { questionOnly, RCODE, recordSlots, udpPayloadLimit, type RawQuestion } from './wire.js';

/** Per-attempt timeout: one upstream gets this long before the next is tried. */
export const UPSTREAM_TIMEOUT_MS = 1_000;
/** At most this many upstreams are tried per query, so SERVFAIL comes within MAX_UPSTREAMS_TRIED × UPSTREAM_TIMEOUT_MS. */
export const MAX_UPSTREAMS_TRIED = 3;
/** Queries being forwarded at once; more are dropped (the client retries) so a burst cannot grow memory. */
export const MAX_IN_FLIGHT = 256;

/** Options of createForwarder. */
export interface ForwarderOptions {
  /** The upstreams to ask, in order; called per query so a changed resolv.conf takes effect. */
  upstreams: () => readonly Upstream[];
  timeoutMs?: number;
  maxUpstreams?: number;
  maxInFlight?: number;
  /** Cache bounds, or false for no cache. */
  cache?: Partial<CacheLimits> | false;
  /** Told why an upstream failed (never fatal). */
  onUpstreamError?: (upstream: Upstream, error: Error) => void;
}

/** Counters for dns.status and benchmarks. */
export interface ForwarderStats {
  forwarded: number;
  servfail: number;
  dropped: number;
  inFlight: number;
  cache: { entries: number; bytes: number; hits: number; misses: number } | null;
  lastUpstreamError?: string;
}

/** A forwarding resolver: asks upstreams on behalf of guests. */
export interface Forwarder {
  /**
   * The reply to `query` (whose single question is `question`) for a client
   * that asked over `transport`: from the cache, else from the first upstream
   * that answers; SERVFAIL when none does; undefined when the query is dropped
   * (too many in flight). The reply keeps the client's id and name case; a
   * UDP reply larger than the client accepts comes back truncated (TC), so
   * the client retries over TCP.
   */
  resolve(query: Buffer, question: RawQuestion, transport: 'udp' | 'tcp'): Promise<Buffer | undefined>;
  stats(): ForwarderStats;
}

/**
 * The forwarder: UDP to each upstream in turn (TCP when the client used TCP
 * or the UDP answer came back truncated), a per-attempt timeout, a fresh
 * random id and source port per upstream query, replies checked against the
 * question, EDNS passed through untouched, and a TTL-honouring cache with
 * negative caching per the SOA minimum.
 */
export function createForwarder(options: ForwarderOptions): Forwarder {
  const timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  const maxUpstreams = options.maxUpstreams ?? MAX_UPSTREAMS_TRIED;
  const maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT;
  const cache = options.cache === false ? undefined : new AnswerCache({ ...DEFAULT_CACHE_LIMITS, ...(options.cache ?? {}) });
  const counters = { forwarded: 0, servfail: 0, dropped: 0, inFlight: 0 };
  let lastUpstreamError: string | undefined;

  const ask = async (upstreamQuery: Buffer, question: RawQuestion, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> => {
    let fallback: Buffer | undefined;
    for (const upstream of options.upstreams().slice(0, maxUpstreams)) {
      try {
        let reply = transport === 'tcp' ? await exchangeTcp(upstreamQuery, question.end, upstream, timeoutMs) : await exchangeUdp(upstreamQuery, question.end, upstream, timeoutMs);
        if (transport === 'udp' && reply.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) {
          reply = await exchangeTcp(upstreamQuery, question.end, upstream, timeoutMs);
        }
        const rcode = reply.readUInt16BE(2) & 0xf;
        // SERVFAIL and REFUSED say "not this server": another may know (a split-DNS or VPN resolver).
        if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
          fallback ??= reply;
          continue;
        }
        return reply;
      } catch (error) {
        lastUpstreamError = `${formatUpstream(upstream)}: ${(error as Error).message}`;
        options.onUpstreamError?.(upstream, error as Error);
        if (!(error instanceof ExchangeError)) throw error;
      }
    }
    return fallback;
  };

  return {
    async resolve(query, question, transport) {
      const edns = ednsOf(query, question.end);
      const key = cache ? cacheKey(query, question.end, edns) : '';
      const fit = (reply: Buffer): Buffer =>
        transport === 'udp' && reply.length > udpPayloadLimit(query, question.end) ? questionOnly(reply, question, reply.readUInt16BE(2) & 0xf, dnsPacket.TRUNCATED_RESPONSE) : reply;

      const cached = cache?.get(key, query, question.end);
      if (cached) return fit(cached);
      if (counters.inFlight >= maxInFlight) {
        counters.dropped++;
        return undefined;
      }
      counters.inFlight++;
      try {
        counters.forwarded++;
        const upstreamQuery = Buffer.from(query);
        upstreamQuery.writeUInt16BE(randomInt(0x10000), 0);
        const reply = await ask(upstreamQuery, question, transport);
        if (!reply || (reply.readUInt16BE(2) & 0xf) === RCODE.SERVFAIL || (reply.readUInt16BE(2) & 0xf) === RCODE.REFUSED) {
          counters.servfail++;
          return questionOnly(query, question, RCODE.SERVFAIL);
        }
        const out = Buffer.from(reply);
        query.copy(out, 0, 0, 2); // the client's id
        if (cache) cache.set(key, out, question.end);
        return fit(out);
      } finally {
        counters.inFlight--;
      }
    },
    stats() {
      return {
        ...counters,
        cache: cache ? { ...cache.size, hits: cache.hits, misses: cache.misses } : null,
        ...(lastUpstreamError ? { lastUpstreamError } : {}),
      };
    },
  };
}

/** Whether a query carries an EDNS OPT record and, if so, its DO bit. */
function ednsOf(query: Buffer, questionEnd: number): { present: boolean; dnssecOk: boolean } {
  if (query.readUInt16BE(10) === 0) return { present: false, dnssecOk: false };
  try {
    const opt = recordSlots(query, questionEnd).find((s) => s.type === 'OPT');
    const flags = (opt?.record as { flags?: number } | undefined)?.flags ?? 0;
    return { present: opt !== undefined, dnssecOk: (flags & dnsPacket.DNSSEC_OK) !== 0 };
  } catch {
    return { present: false, dnssecOk: false };
  }
}

