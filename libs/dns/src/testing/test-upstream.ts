import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import { encodeReply, headerOnly, RCODE, rawQuestion } from '../wire.js';

/** Options of startTestUpstream. */
export interface TestUpstreamOptions {
  host?: string;
  port?: number;
  /** The zone served (lowercase, no trailing dot), e.g. `mirror.test`. */
  zone: string;
  /** `<name>` (full name, lowercase) → IPv4 address. Names in the zone not listed get NXDOMAIN. */
  records: Record<string, string>;
  /** TTL of answers (s). */
  ttl?: number;
  /** SOA minimum (the negative-caching TTL, s). */
  negativeTtl?: number;
  /** Names answered over UDP with TC and no records; over TCP with their A record and ~1.7 KB of TXT padding (a large RRset). */
  truncateOverUdp?: readonly string[];
  /** When true, names outside the zone get NXDOMAIN with the zone's SOA (a tiny "internet"); else REFUSED. */
  authoritativeForAll?: boolean;
  /** Answers UDP queries after this many ms, as an upstream a network away does (default 0: at once). */
  delayMs?: number;
}

/** A real DNS server for tests and the e2e "outside": UDP and TCP, counting what it was asked. */
export interface TestUpstream {
  host: string;
  port: number;
  /** Queries received, per transport. */
  queries: { udp: number; tcp: number };
  /** Stops answering (packets are read and ignored: a black hole, as a dead server behind a firewall). */
  silence(on: boolean): void;
  close(): Promise<void>;
}

/**
 * Starts a small authoritative DNS server (dns-packet, no recursion) for
 * one zone. Names in `records` answer with their address and `ttl`;
 * `truncateOverUdp` names are answered whole only over TCP.
 */
export async function startTestUpstream(options: TestUpstreamOptions): Promise<TestUpstream> {
  const host = options.host ?? '127.0.0.1';
  const ttl = options.ttl ?? 60;
  const negativeTtl = options.negativeTtl ?? 30;
  const zone = options.zone.toLowerCase();
  const queries = { udp: 0, tcp: 0 };
  let silent = false;

  const answer = (query: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    queries[transport]++;
    if (silent || query.length < 12 || query.readUInt16BE(2) & 0x8000) return undefined;
    let raw;
    try {
      dnsPacket.decode(query);
      raw = rawQuestion(query);
    } catch {
      return headerOnly(query, RCODE.FORMERR);
    }
    const packet = dnsPacket.decode(query);
    const edns = (packet.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    const name = raw.question.name.toLowerCase().replace(/\.$/, '');
    const soa: Answer = {
      name: zone,
      type: 'SOA',
      class: 'IN',
      ttl: negativeTtl,
      data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: negativeTtl },
    };
    const reply = (rcode: number, answers: Answer[] = [], authorities: Answer[] = [], flags = 0): Buffer =>
      encodeReply(
        {
          id: packet.id ?? 0,
          type: 'response',
          flags: dnsPacket.AUTHORITATIVE_ANSWER | (query.readUInt16BE(2) & dnsPacket.RECURSION_DESIRED) | flags | rcode,
          answers,
          authorities,
          additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as Answer] : [],
        },
        raw,
      );
    const inZone = name === zone || name.endsWith(`.${zone}`);
    if (!inZone && !options.authoritativeForAll) return reply(RCODE.REFUSED);
    const address = options.records[name];
    if (!address) return reply(RCODE.NXDOMAIN, [], [soa]);
    if (raw.question.type !== 'A') return reply(RCODE.NOERROR, [], [soa]);
    const answers: Answer[] = [{ name: raw.question.name, type: 'A', class: 'IN', ttl, data: address }];
    if (options.truncateOverUdp?.includes(name)) {
      const padding: Answer[] = Array.from({ length: 8 }, (_, i) => ({ name: raw.question.name, type: 'TXT', class: 'IN', ttl, data: `${i}`.padEnd(200, 'x') }) as Answer);
      // Over UDP only the header and question, with TC: the answer exists only over TCP, whatever EDNS size was offered.
      if (transport === 'udp') return reply(RCODE.NOERROR, [], [], dnsPacket.TRUNCATED_RESPONSE);
      return reply(RCODE.NOERROR, [...answers, ...padding]);
    }
    return reply(RCODE.NOERROR, answers);
  };

  const udp: UdpSocket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(options.port ?? 0, host, () => resolve());
  });
  const port = udp.address().port;
  udp.on('message', (query, peer) => {
    const response = answer(query, 'udp');
    if (!response) return;
    const send = (): void => udp.send(response, peer.port, peer.address);
    if (options.delayMs) setTimeout(send, options.delayMs);
    else send();
  });
  const sockets = new Set<Socket>();
  const tcp: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        const response = answer(Buffer.from(query), 'tcp');
        if (!response) continue;
        const framed = Buffer.alloc(2 + response.length);
        framed.writeUInt16BE(response.length, 0);
        response.copy(framed, 2);
        socket.write(framed);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => resolve());
  });
  return {
    host,
    port,
    queries,
    silence: (on) => {
      silent = on;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}
