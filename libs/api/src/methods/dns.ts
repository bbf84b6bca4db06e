import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';

/** One address the daemon's `.vm` DNS server listens on (UDP and TCP). */
export const dnsListenerSchema = lazySchema(() => z.object({
  /** `loopback`: 127.0.0.1, always; `bridge`: the bridge's gateway address, while the bridge exists. */
  scope: z.enum(['loopback', 'bridge']),
  address: z.string(),
  port: z.number().int().min(1).max(65535),
}));
export type DnsListener = z.infer<typeof dnsListenerSchema>;

/** What `dns.status` reports: where the `.vm` zone is served and how the host is wired to it. */
export const dnsStatusSchema = lazySchema(() => z.object({
  /** The listeners currently open; the bridge one appears once the bridge exists. */
  listeners: z.array(dnsListenerSchema),
  bridge: z.object({
    name: z.string(),
    /** The bridge's gateway address, where guests and systemd-resolved reach the server. */
    address: z.string(),
    /** Whether the bridge currently exists with that address. */
    up: z.boolean(),
  }),
  /**
   * systemd-resolved per-link wiring of the bridge (`~vm` routed to the
   * server): `applied`, `unavailable` (resolved not running: see
   * docs/dns-routing.md for recipes), `failed` (detail says why), or
   * `pending` (the bridge does not exist yet).
   */
  resolved: z.object({ state: z.enum(['applied', 'unavailable', 'failed', 'pending']), detail: z.string() }),
  /** Listener problems (a port taken, a bind refused), newest last; empty when all is well. */
  problems: z.array(z.string()),
  /**
   * The forwarder that answers guests' other names on the bridge listener:
   * its upstreams and where they came from (`config (dns_upstreams)` or the
   * resolv.conf path), and its counters.
   */
  forwarder: z
    .object({
      upstreams: z.array(z.string()),
      from: z.string(),
      forwarded: z.number(),
      servfail: z.number(),
      dropped: z.number(),
      rateLimited: z.number(),
      cache: z.object({ entries: z.number(), bytes: z.number(), hits: z.number(), misses: z.number() }).nullable(),
      lastUpstreamError: z.string().optional(),
    })
    .optional(),
}));
export type DnsStatus = z.infer<typeof dnsStatusSchema>;

/** The daemon's authoritative DNS server for the `vm.` zone. */
export const dnsMethods = {
  'dns.status': defineMethod(() => ({
    description: 'Reports where the .vm DNS server listens and whether systemd-resolved routes .vm to it.',
    params: z.object({}).optional(),
    result: dnsStatusSchema,
  })),
};
