// Issue 16: what the guests' DNS forwarder adds to a lookup. A client sends
// queries to the daemon's DNS server (the same server and forwarder code the
// bridge listener runs) on loopback, which forwards them to a real upstream
// DNS server; the baseline sends the same queries straight to that upstream.
// Uncached: every name is new (the forwarder's full path). Cached: one name
// asked again and again (answered from the forwarder's cache).
import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';
import { createForwarder, startDnsServer, type DnsServer } from '@banger/dns';
import { startTestUpstream, type TestUpstream } from '@banger/dns/testing';
import { defineBenchmark } from '../benchmark.js';
import { UPSTREAM_DELAY_MS } from '../fixtures/dns-upstream-delay.js';

const QUERIES_PER_RUN = 50;

interface Context {
  upstream: TestUpstream;
  server: DnsServer;
  client: Socket;
  run: number;
}

/** Sends one A query for `name` to host:port and waits for the reply with its id. */
function lookup(client: Socket, port: number, name: string, id: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer for ${name} within 2 s`)), 2_000);
    const onMessage = (message: Buffer) => {
      if (message.readUInt16BE(0) !== id) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve();
    };
    client.on('message', onMessage);
    client.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1');
  });
}

function forwarderBenchmark(cached: boolean) {
  return defineBenchmark<Context>({
    name: cached ? `DNS forwarder, cached (${QUERIES_PER_RUN} lookups of one name)` : `DNS forwarder, uncached (${QUERIES_PER_RUN} new names)`,
    baseline: 'the same lookups sent straight to the upstream DNS server',
    runs: 9,
    async setup() {
      const upstream = await startTestUpstream({ zone: 'mirror.test', records: { 'mirror.test': '198.18.0.1' }, authoritativeForAll: true, delayMs: UPSTREAM_DELAY_MS });
      const forwarder = createForwarder({ upstreams: () => [{ host: upstream.host, port: upstream.port }], ...(cached ? {} : { cache: false }) });
      const server = await startDnsServer({ host: '127.0.0.1', port: 0, lookup: () => undefined, forward: { forwarder, allows: () => true } });
      const client = createSocket('udp4');
      await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
      return { upstream, server, client, run: 0 };
    },
    async banger(ctx) {
      const run = ++ctx.run;
      for (let i = 0; i < QUERIES_PER_RUN; i++) await lookup(ctx.client, ctx.server.port, cached ? 'mirror.test' : `n${run}-${i}.mirror.test`, i + 1);
    },
    async runBaseline(ctx) {
      const run = ++ctx.run;
      for (let i = 0; i < QUERIES_PER_RUN; i++) await lookup(ctx.client, ctx.upstream.port, cached ? 'mirror.test' : `n${run}-${i}.mirror.test`, i + 1);
    },
    async teardown(ctx) {
      ctx.client.close();
      await ctx.server.close();
      await ctx.upstream.close();
    },
  });
}

export default [forwarderBenchmark(false), forwarderBenchmark(true)];
