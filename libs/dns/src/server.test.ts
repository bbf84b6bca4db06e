import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import dnsPacket from 'dns-packet';
import { findExecutable } from '@banger/host';
import { startDnsServer, type DnsServer } from './server.js';

const vms = new Map<string, string>([['sandbox', '172.16.0.5']]);
let server: DnsServer;

beforeAll(async () => {
  server = await startDnsServer({ host: '127.0.0.1', port: 0, lookup: (name) => (vms.has(name) ? { ip: vms.get(name) as string } : undefined), ttl: 5 });
});
afterAll(async () => {
  await server?.close();
});

function resolver(): Resolver {
  const r = new Resolver({ timeout: 2_000, tries: 1 });
  r.setServers([`127.0.0.1:${server.port}`]);
  return r;
}

/** Sends one UDP packet and returns the decoded reply, or undefined after `waitMs` of silence. */
async function udpQuery(packet: Buffer, waitMs = 1_000): Promise<ReturnType<typeof dnsPacket.decode> | undefined> {
  const socket = createSocket('udp4');
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), waitMs);
      socket.on('message', (msg) => {
        clearTimeout(timer);
        resolve(dnsPacket.decode(msg));
      });
      socket.send(packet, server.port, '127.0.0.1');
    });
  } finally {
    socket.close();
  }
}

const rcodeOf = (packet: { flags?: number } | undefined): number | undefined => (packet ? (packet.flags ?? 0) & 0xf : undefined);
const query = (name: string, type: string = 'A', id = 1234): Buffer =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name, class: 'IN' }] });

async function dig(...args: string[]): Promise<string> {
  return (await execa('dig', [`@127.0.0.1`, '-p', String(server.port), '+time=2', '+tries=1', ...args])).stdout;
}

describe('the .vm DNS server, asked through c-ares (node:dns)', () => {
  it('answers A for an existing VM with a short TTL', async () => {
    expect(await resolver().resolve4('sandbox.vm', { ttl: true })).toEqual([{ address: '172.16.0.5', ttl: 5 }]);
  });

  it('matches names case-insensitively', async () => {
    expect(await resolver().resolve4('SandBox.VM')).toEqual(['172.16.0.5']);
  });

  it('says NXDOMAIN for an unknown VM', async () => {
    await expect(resolver().resolve4('nope.vm')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('refuses names outside .vm instead of recursing', async () => {
    await expect(resolver().resolve4('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
  });

  it('answers NODATA for AAAA of an existing VM', async () => {
    await expect(resolver().resolve6('sandbox.vm')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('follows the lookup live: a VM added or removed between queries shows at once', async () => {
    vms.set('fresh', '172.16.0.9');
    expect(await resolver().resolve4('fresh.vm')).toEqual(['172.16.0.9']);
    vms.delete('fresh');
    await expect(resolver().resolve4('fresh.vm')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe.skipIf(!findExecutable('dig'))('the .vm DNS server, asked through dig', () => {
  it('answers A with the authoritative flag', async () => {
    const out = await dig('sandbox.vm', 'A', '+noall', '+answer', '+comments');
    expect(out).toMatch(/status: NOERROR/);
    expect(out).toMatch(/flags: qr aa rd;/);
    expect(out).toMatch(/^sandbox\.vm\.\s+5\s+IN\s+A\s+172\.16\.0\.5$/m);
  });

  it('puts the zone SOA in the authority section of NXDOMAIN and NODATA answers', async () => {
    const nx = await dig('nope.vm', '+noall', '+comments', '+authority');
    expect(nx).toMatch(/status: NXDOMAIN/);
    expect(nx).toMatch(/^vm\.\s+5\s+IN\s+SOA\s+vm\. hostmaster\.vm\./m);
    const nodata = await dig('sandbox.vm', 'AAAA', '+noall', '+comments', '+authority', '+answer');
    expect(nodata).toMatch(/status: NOERROR/);
    expect(nodata).toMatch(/ANSWER: 0/);
    expect(nodata).toMatch(/IN\s+SOA/);
  });

  it('answers the zone apex SOA and NS', async () => {
    expect(await dig('vm', 'SOA', '+short')).toMatch(/^vm\. hostmaster\.vm\. \d+ 3600 600 86400 5$/);
    expect(await dig('vm', 'NS', '+short')).toBe('vm.');
  });

  it('refuses example.com', async () => {
    expect(await dig('example.com', '+noall', '+comments')).toMatch(/status: REFUSED/);
  });

  it('answers over TCP with length framing', async () => {
    expect(await dig('+tcp', 'sandbox.vm', '+short')).toBe('172.16.0.5');
  });
});

describe('malformed input', () => {
  it('answers FORMERR to a query with two questions', async () => {
    const packet = dnsPacket.encode({
      type: 'query',
      id: 7,
      questions: [
        { type: 'A', name: 'sandbox.vm', class: 'IN' },
        { type: 'A', name: 'other.vm', class: 'IN' },
      ],
    });
    const reply = await udpQuery(packet);
    expect(reply?.id).toBe(7);
    expect(rcodeOf(reply)).toBe(1);
  });

  it('drops responses and runt packets without answering', async () => {
    const response = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'sandbox.vm', class: 'IN' }] });
    expect(await udpQuery(response, 300)).toBeUndefined();
    expect(await udpQuery(Buffer.from([1, 2, 3]), 300)).toBeUndefined();
  });

  it('survives 2 000 random, truncated and oversized packets and 20 garbage TCP streams, then still answers', async () => {
    const valid = query('sandbox.vm');
    const socket = createSocket('udp4');
    socket.on('message', () => undefined);
    const send = (packet: Buffer) => new Promise<void>((resolve) => socket.send(packet, server.port, '127.0.0.1', () => resolve()));
    for (let i = 0; i < 2_000; i++) {
      const kind = i % 5;
      let packet: Buffer;
      if (kind === 0) packet = randomBytes(Math.floor(Math.random() * 600));
      else if (kind === 1) packet = valid.subarray(0, Math.floor(Math.random() * valid.length));
      else if (kind === 2) packet = randomBytes(5_000 + Math.floor(Math.random() * 20_000));
      else if (kind === 3) {
        // A valid header with random section counts and a compression pointer looping on itself.
        packet = Buffer.concat([valid.subarray(0, 4), randomBytes(8), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
        packet.writeUInt16BE(0x0100, 2);
      } else {
        packet = Buffer.from(valid);
        for (let flip = 0; flip < 4; flip++) packet[Math.floor(Math.random() * packet.length)] = Math.floor(Math.random() * 256);
      }
      await send(packet);
    }
    socket.close();

    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const tcp = connect(server.port, '127.0.0.1', () => {
          if (i % 4 === 0) tcp.write(Buffer.from([0xff, 0xff]));
          else if (i % 4 === 1) tcp.write(randomBytes(3_000));
          else if (i % 4 === 2) tcp.write(Buffer.concat([Buffer.from([0, 40]), randomBytes(10)]));
          else tcp.write(Buffer.concat([Buffer.from([0, 30]), randomBytes(30)]));
          setTimeout(() => {
            tcp.destroy();
            resolve();
          }, 20);
        });
        tcp.on('error', () => resolve());
      });
    }

    expect(await resolver().resolve4('sandbox.vm')).toEqual(['172.16.0.5']);
    const reply = await udpQuery(query('sandbox.vm', 'A', 4321));
    expect(reply?.id).toBe(4321);
    expect(reply?.answers?.[0]).toMatchObject({ type: 'A', data: '172.16.0.5' });
    if (findExecutable('dig')) expect(await dig('+tcp', 'sandbox.vm', '+short')).toBe('172.16.0.5');
  }, 60_000);
});

describe('startDnsServer', () => {
  it('falls back to the next port when the preferred one is taken', async () => {
    const second = await startDnsServer({ host: '127.0.0.1', port: [server.port, 0], lookup: () => ({ ip: '172.16.0.7' }) });
    try {
      expect(second.port).not.toBe(server.port);
      const r = new Resolver({ timeout: 2_000, tries: 1 });
      r.setServers([`127.0.0.1:${second.port}`]);
      expect(await r.resolve4('any.vm')).toEqual(['172.16.0.7']);
    } finally {
      await second.close();
    }
  });

  it('says which address it cannot listen on', async () => {
    await expect(startDnsServer({ host: '127.0.0.1', port: server.port, lookup: () => undefined })).rejects.toThrow(
      `dns server: cannot listen on 127.0.0.1:${server.port} (UDP): EADDRINUSE`,
    );
  });
});

/** A query whose name is `labels` (raw bytes each) under `.vm`, built by hand: dns-packet cannot encode such labels. */
function rawLabelQuery(labels: Buffer[], id = 99): Buffer {
  const name = Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([2]), Buffer.from('vm'), Buffer.from([0])]);
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]);
}

describe('replies echo the question exactly (issue 21)', () => {
  it('answers a 63-byte label of 0xff with the same, valid, label', async () => {
    const q = rawLabelQuery([Buffer.alloc(63, 0xff)]);
    const socket = createSocket('udp4');
    const raw = await new Promise<Buffer>((resolve) => {
      socket.on('message', (m) => resolve(m));
      socket.send(q, server.port, '127.0.0.1');
    });
    socket.close();
    expect(raw[12]).toBe(63);
    expect(raw.subarray(12, q.length)).toEqual(q.subarray(12));
    expect(rcodeOf(dnsPacket.decode(raw))).toBe(3);
  });

  it('answers a label containing a dot with a question matching the query, and finds no VM by it', async () => {
    vms.set('a', '172.16.0.66');
    try {
      // One label "sandbox.vm" under .vm, and one label "a.b": neither names a VM.
      for (const q of [rawLabelQuery([Buffer.from('sandbox.vm')]), rawLabelQuery([Buffer.from('a.b')])]) {
        const reply = await udpQuery(q);
        expect(rcodeOf(reply)).toBe(3);
        const socket = createSocket('udp4');
        const raw = await new Promise<Buffer>((resolve) => {
          socket.on('message', (m) => resolve(m));
          socket.send(q, server.port, '127.0.0.1');
        });
        socket.close();
        expect(raw.subarray(12, q.length)).toEqual(q.subarray(12));
      }
    } finally {
      vms.delete('a');
    }
  });
});

describe('DNS over TCP stays bounded (issue 21)', () => {
  it('stops reading from a client that pipelines 200 000 queries without reading the replies', async () => {
    const own = await startDnsServer({ host: '127.0.0.1', port: 0, lookup: () => ({ ip: '172.16.0.5' }) });
    try {
      const one = query('sandbox.vm');
      const framed = Buffer.alloc(2 + one.length);
      framed.writeUInt16BE(one.length, 0);
      one.copy(framed, 2);
      const client = connect(own.port, '127.0.0.1');
      client.pause(); // never read a reply
      client.on('error', () => undefined);
      await new Promise<void>((r) => client.once('connect', () => r()));
      const batch = Buffer.concat(Array.from({ length: 1_000 }, () => framed));
      for (let i = 0; i < 200; i++) client.write(batch);
      // A server that keeps reading takes all of it within ~3 s here (queueing the replies in its own memory);
      // a bounded one stops after maxPending queries and 64 KiB of unsent replies, and TCP holds the rest back.
      await sleep(4_000);
      expect(client.destroyed).toBe(false);
      expect(client.writableLength).toBeGreaterThan(1024 * 1024);
      client.destroy();
      // And the server still answers everyone else.
      const r = new Resolver({ timeout: 2_000, tries: 1 });
      r.setServers([`127.0.0.1:${own.port}`]);
      expect(await r.resolve4('sandbox.vm')).toEqual(['172.16.0.5']);
    } finally {
      await own.close();
    }
  }, 30_000);

  it('does not let 64 clients sending a byte every 8 s hold every TCP slot', async () => {
    const own = await startDnsServer({ host: '127.0.0.1', port: 0, lookup: () => ({ ip: '172.16.0.5' }) });
    const slow: Array<ReturnType<typeof connect>> = [];
    try {
      let closedByServer = 0;
      for (let i = 0; i < 64; i++) {
        const socket = connect(own.port, '127.0.0.1');
        socket.on('error', () => undefined);
        socket.on('close', () => closedByServer++);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        socket.write(Buffer.from([0])); // the first byte of a length prefix, and nothing more for now
        slow.push(socket);
      }
      // A real client gets in at once (the longest-idle slow one makes room)…
      expect(await dig('+tcp', 'sandbox.vm', '+short').catch(() => 'failed')).toBe('172.16.0.5');
      // …and a message still incomplete 3 s after its first byte loses its connection, so trickling never pins a slot.
      await sleep(4_000);
      expect(closedByServer).toBe(64);
    } finally {
      for (const s of slow) s.destroy();
      await own.close();
    }
  }, 30_000);
});
