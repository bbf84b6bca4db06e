import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { createForwarder, type Forwarder } from './forwarder.js';
import { startDnsServer, type DnsServer } from './server.js';
import { startTestUpstream, type TestUpstream } from './testing/index.js';
import type { Upstream } from './upstreams.js';

// Every upstream here is a real DNS server on a loopback socket (startTestUpstream), never a stub function.
const servers: Array<{ close(): Promise<void> }> = [];
const track = <T extends { close(): Promise<void> }>(s: T): T => {
  servers.push(s);
  return s;
};
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const mirror = (extra: Partial<Parameters<typeof startTestUpstream>[0]> = {}): Promise<TestUpstream> =>
  startTestUpstream({ zone: 'mirror.test', records: { 'mirror.test': '198.18.0.1', 'www.mirror.test': '198.18.0.7', 'big.mirror.test': '198.18.0.9' }, ...extra }).then(track);
const at = (u: TestUpstream): Upstream => ({ host: u.host, port: u.port });

/** A bound UDP port with nobody reading it: a server that is up but never answers. */
async function blackHole(): Promise<Upstream & { close(): Promise<void> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  socket.on('message', () => undefined);
  return track({ host: '127.0.0.1', port: socket.address().port, close: () => new Promise<void>((r) => socket.close(() => r())) });
}

/** A loopback port nothing listens on: ICMP port unreachable, as a stopped resolver. */
async function closedPort(): Promise<Upstream> {
  const hole = createSocket('udp4');
  await new Promise<void>((r) => hole.bind(0, '127.0.0.1', () => r()));
  const port = hole.address().port;
  await new Promise<void>((r) => hole.close(() => r()));
  return { host: '127.0.0.1', port };
}

const query = (name: string, options: { id?: number; type?: string; edns?: number; dnssecOk?: boolean } = {}): Buffer =>
  dnsPacket.encode({
    type: 'query',
    id: options.id ?? 4242,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: (options.type ?? 'A') as 'A', name, class: 'IN' }],
    additionals: options.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: options.edns, flags: options.dnssecOk ? dnsPacket.DNSSEC_OK : 0, options: [] } as unknown as Answer] : [],
  });

async function udpAsk(port: number, packet: Buffer, options: { from?: string; waitMs?: number } = {}): Promise<{ raw: Buffer; packet: DecodedPacket } | undefined> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, options.from ?? '127.0.0.1', () => r()));
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), options.waitMs ?? 5_000);
      socket.on('message', (raw) => {
        clearTimeout(timer);
        resolve({ raw, packet: dnsPacket.decode(raw) });
      });
      socket.send(packet, port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

async function tcpAsk(port: number, packet: Buffer): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const framed = Buffer.alloc(2 + packet.length);
      framed.writeUInt16BE(packet.length, 0);
      packet.copy(framed, 2);
      socket.write(framed);
    });
    let got = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        socket.destroy();
        resolve(dnsPacket.decode(got.subarray(2, 2 + got.readUInt16BE(0))));
      }
    });
    socket.on('error', reject);
  });
}

const rcode = (p: DecodedPacket | undefined): number | undefined => (p ? (p.flags ?? 0) & 0xf : undefined);
const A = (p: DecodedPacket | undefined): string[] => (p?.answers ?? []).filter((a) => a.type === 'A').map((a) => (a as { data: string }).data);

/** A listener like the daemon's bridge one: forwarding for 127.0.0.1 only, `.vm` for everyone. */
async function bridgeLike(forwarder: Forwarder, extra: Partial<Parameters<typeof startDnsServer>[0]> = {}): Promise<DnsServer> {
  return track(
    await startDnsServer({
      host: '127.0.0.1',
      port: 0,
      lookup: (name) => (name === 'sandbox' ? { ip: '172.16.0.5' } : undefined),
      forward: { forwarder, allows: (client) => client === '127.0.0.1' },
      ...extra,
    }),
  );
}

describe('the forwarder against a real upstream on loopback', () => {
  it('forwards names outside .vm and keeps the query id and the name case', async () => {
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const reply = await udpAsk(server.port, query('WwW.MiRRor.TeSt', { id: 31337 }));
    expect(reply?.packet.id).toBe(31337);
    expect(reply?.packet.questions?.[0]?.name).toBe('WwW.MiRRor.TeSt');
    expect(A(reply?.packet)).toEqual(['198.18.0.7']);
    expect((reply?.packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED).toBeTruthy();
    // .vm is still answered by banger itself, never forwarded.
    expect(A((await udpAsk(server.port, query('sandbox.vm')))?.packet)).toEqual(['172.16.0.5']);
    expect(upstream.queries.udp).toBe(1);
  });

  it('is what dig sees: NOERROR with the address, and NXDOMAIN for a name the upstream does not know', async () => {
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const dig = async (...args: string[]) => (await execa('dig', ['@127.0.0.1', '-p', String(server.port), '+time=2', '+tries=1', ...args])).stdout;
    expect(await dig('mirror.test', '+short')).toBe('198.18.0.1');
    const nx = await dig('nope.mirror.test');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/mirror\.test\.\s+30\s+IN\s+SOA/);
  });

  it('retries a truncated UDP answer over TCP and hands the whole answer to an EDNS client', async () => {
    const upstream = await mirror({ truncateOverUdp: ['big.mirror.test'] });
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const reply = await udpAsk(server.port, query('big.mirror.test', { edns: 4096 }));
    expect(upstream.queries).toEqual({ udp: 1, tcp: 1 });
    expect((reply?.packet.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE).toBe(0);
    expect(A(reply?.packet)).toEqual(['198.18.0.9']);
    expect(reply?.packet.answers).toHaveLength(9);
    expect(reply!.raw.length).toBeGreaterThan(1_500);
  });

  it('truncates for a client without EDNS (512 bytes), which then gets the whole answer over TCP from the cache', async () => {
    const upstream = await mirror({ truncateOverUdp: ['big.mirror.test'] });
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const udp = await udpAsk(server.port, query('big.mirror.test'));
    expect((udp?.packet.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(udp?.packet.answers).toEqual([]);
    const tcp = await tcpAsk(server.port, query('big.mirror.test'));
    expect(tcp.answers).toHaveLength(9);
    expect(upstream.queries).toEqual({ udp: 1, tcp: 1 });
  });

  it('passes EDNS through: the OPT record and its DO bit reach the upstream, and its OPT comes back', async () => {
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const reply = await udpAsk(server.port, query('www.mirror.test', { edns: 1232, dnssecOk: true }));
    const opt = reply?.packet.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    expect(opt?.udpPayloadSize).toBe(1232);
    expect(A(reply?.packet)).toEqual(['198.18.0.7']);
  });

  it('moves on to the next upstream when one times out', async () => {
    const dead = await blackHole();
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [dead, at(upstream)], timeoutMs: 400 }));
    const started = Date.now();
    const reply = await udpAsk(server.port, query('www.mirror.test'));
    const elapsed = Date.now() - started;
    expect(A(reply?.packet)).toEqual(['198.18.0.7']);
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('moves on at once from an upstream whose port is closed', async () => {
    const stopped = await closedPort();
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [stopped, at(upstream)], timeoutMs: 2_000 }));
    const started = Date.now();
    const reply = await udpAsk(server.port, query('www.mirror.test'));
    expect(A(reply?.packet)).toEqual(['198.18.0.7']);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers SERVFAIL within 3 s (the documented bound) when every upstream is down, trying at most three', async () => {
    const holes = [await blackHole(), await blackHole(), await blackHole()];
    const spare = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [...holes, at(spare)] }));
    const started = Date.now();
    const reply = await udpAsk(server.port, query('www.mirror.test', { id: 77 }), { waitMs: 6_000 });
    const elapsed = Date.now() - started;
    expect(rcode(reply?.packet)).toBe(2);
    expect(reply?.packet.id).toBe(77);
    expect(reply?.packet.questions?.[0]?.name).toBe('www.mirror.test');
    expect(elapsed).toBeLessThanOrEqual(3_300);
    expect(spare.queries.udp).toBe(0);
  }, 10_000);

  it('caches answers for their TTL, ages the TTL it hands out, and caches NXDOMAIN for the SOA minimum', async () => {
    const upstream = await mirror({ ttl: 3, negativeTtl: 1 });
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const first = await udpAsk(server.port, query('www.mirror.test'));
    expect(first?.packet.answers?.[0]).toMatchObject({ ttl: 3 });
    await sleep(1_100);
    const second = await udpAsk(server.port, query('WWW.mirror.test', { id: 9 }));
    expect(second?.packet.id).toBe(9);
    expect(second?.packet.questions?.[0]?.name).toBe('WWW.mirror.test');
    expect(second?.packet.answers?.[0]).toMatchObject({ data: '198.18.0.7', ttl: 2 });
    expect(upstream.queries.udp).toBe(1);

    expect(rcode((await udpAsk(server.port, query('gone.mirror.test')))?.packet)).toBe(3);
    expect(rcode((await udpAsk(server.port, query('gone.mirror.test')))?.packet)).toBe(3);
    expect(upstream.queries.udp).toBe(2);
    await sleep(1_100);
    expect(rcode((await udpAsk(server.port, query('gone.mirror.test')))?.packet)).toBe(3);
    expect(upstream.queries.udp).toBe(3);
    await sleep(1_000); // past the positive TTL of 3 s: asked again
    await udpAsk(server.port, query('www.mirror.test'));
    expect(upstream.queries.udp).toBe(4);
  });
});

describe('never an open resolver', () => {
  it('refuses names outside .vm to clients the listener does not allow, and still answers them .vm', async () => {
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }));
    const outsider = await udpAsk(server.port, query('www.mirror.test'), { from: '127.0.0.2' });
    expect(rcode(outsider?.packet)).toBe(5);
    expect(A((await udpAsk(server.port, query('sandbox.vm'), { from: '127.0.0.2' }))?.packet)).toEqual(['172.16.0.5']);
    expect(upstream.queries.udp).toBe(0);
  });

  it('rate-limits a burst from one client without affecting another', async () => {
    const upstream = await mirror();
    const server = await bridgeLike(createForwarder({ upstreams: () => [at(upstream)] }), {
      forward: { forwarder: createForwarder({ upstreams: () => [at(upstream)] }), allows: () => true },
      rateLimit: { perSecond: 20, burst: 40 },
    });
    const flooder = createSocket('udp4');
    await new Promise<void>((r) => flooder.bind(0, '127.0.0.1', () => r()));
    let answered = 0;
    flooder.on('message', () => answered++);
    const burst = query('www.mirror.test');
    // 2 000 queries in one second (20 every 10 ms); the other client asks in the middle of it.
    const flood = (async () => {
      for (let tick = 0; tick < 100; tick++) {
        for (let i = 0; i < 20; i++) flooder.send(burst, server.port, '127.0.0.1');
        await sleep(10);
      }
    })();
    await sleep(400);
    const other = await udpAsk(server.port, query('www.mirror.test'), { from: '127.0.0.3', waitMs: 2_000 });
    await flood;
    await sleep(300);
    flooder.close();
    expect(A(other?.packet)).toEqual(['198.18.0.7']);
    // The burst allowance plus 20/s for the flood's ~1.5 s (10 ms sleeps overshoot on a busy host).
    expect(answered).toBeGreaterThanOrEqual(40);
    expect(answered).toBeLessThan(100);
  });
});

describe('bounds', () => {
  it('drops queries past the in-flight bound instead of queueing them', async () => {
    const dead = await blackHole();
    const forwarder = createForwarder({ upstreams: () => [dead], timeoutMs: 500, maxInFlight: 4, cache: false });
    const server = await bridgeLike(forwarder);
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const replies: number[] = [];
    client.on('message', (m) => replies.push(m.readUInt16BE(2) & 0xf));
    for (let i = 0; i < 20; i++) client.send(query(`n${i}.mirror.test`, { id: i }), server.port, '127.0.0.1');
    await sleep(1_500);
    client.close();
    expect(forwarder.stats().dropped).toBe(16);
    expect(replies).toEqual([2, 2, 2, 2]);
  });
});
