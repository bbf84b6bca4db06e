import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Question } from 'dns-packet';

/** Finds a VM by name (lowercase, without `.vm`); undefined when there is none. */
export type VmLookup = (name: string) => { ip: string } | undefined;

/** What the zone needs to answer a query. */
export interface ZoneOptions {
  lookup: VmLookup;
  /** TTL of answers and of cached negative answers, in seconds. */
  ttl: number;
  /** The server's own IPv4 address, served as the apex `vm.` A record (the NS glue); omitted when unspecified. */
  apexAddress?: string;
  /** SOA serial. */
  serial: number;
}

export const ZONE = 'vm';
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;
// Queries are small; anything bigger is garbage or an attack and is not parsed.
export const MAX_QUERY_BYTES = 4096;

/**
 * Answers one DNS query (wire format) for the authoritative `vm.` zone, or
 * returns undefined when the packet must be dropped (too short, a response,
 * too big). Undecodable queries and QDCOUNT ≠ 1 get FORMERR; opcodes other
 * than QUERY get NOTIMP; names outside `vm.` and classes other than IN get
 * REFUSED (the server never recurses). `<name>.vm` A → the VM's address;
 * unknown names → NXDOMAIN, and other types for existing names → NODATA,
 * both with the zone's SOA in the authority section for negative caching.
 */
export function answerQuery(query: Buffer, zone: ZoneOptions): Buffer | undefined {
  if (query.length < 12 || query.length > MAX_QUERY_BYTES) return undefined;
  const headerFlags = query.readUInt16BE(2);
  if (headerFlags & QR) return undefined; // a response: answering it could start a loop
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return headerOnly(query, RCODE.FORMERR);
  }
  if ((headerFlags & OPCODE_MASK) !== 0) return headerOnly(query, RCODE.NOTIMP);
  const questions = packet.questions ?? [];
  if (questions.length !== 1 || query.readUInt16BE(4) !== 1) return headerOnly(query, RCODE.FORMERR);
  const question = questions[0] as Question;
  const edns = (packet.additionals ?? []).some((a) => a.type === 'OPT');

  const reply = (rcode: number, answers: Answer[] = [], authorities: Answer[] = [], additionals: Answer[] = [], authoritative = true): Buffer =>
    dnsPacket.encode({
      id: packet.id ?? 0,
      type: 'response',
      // dns-packet's encode ignores `rcode`: it has to be ORed into the flags.
      flags: (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | (headerFlags & dnsPacket.RECURSION_DESIRED) | rcode,
      questions: [question],
      answers,
      authorities,
      additionals: edns ? [...additionals, { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as Answer] : additionals,
    });

  const name = question.name.toLowerCase().replace(/\.$/, '');
  if (name !== ZONE && !name.endsWith(`.${ZONE}`)) return reply(RCODE.REFUSED, [], [], [], false);
  if (question.class !== 'IN' && question.class !== 'ANY') return reply(RCODE.REFUSED, [], [], [], false);

  const soa = soaRecord(zone);
  // dns-packet's type union lacks ANY (255), which it decodes fine.
  const type = question.type as string;
  if (name === ZONE) {
    if (type === 'SOA' || type === 'ANY') return reply(RCODE.NOERROR, [soa]);
    if (type === 'NS') return reply(RCODE.NOERROR, [nsRecord(zone)], [], apexA(zone));
    if (type === 'A' && zone.apexAddress) return reply(RCODE.NOERROR, apexA(zone));
    return reply(RCODE.NOERROR, [], [soa]);
  }

  const vmName = name.slice(0, -(ZONE.length + 1));
  let found: { ip: string } | undefined;
  try {
    found = vmName.includes('.') ? undefined : zone.lookup(vmName);
  } catch {
    return reply(RCODE.SERVFAIL, [], [], [], false);
  }
  if (!found) return reply(RCODE.NXDOMAIN, [], [soa]);
  const recordType = found.ip.includes(':') ? 'AAAA' : 'A';
  if (type === recordType || type === 'ANY') {
    return reply(RCODE.NOERROR, [{ name: question.name, type: recordType, class: 'IN', ttl: zone.ttl, data: found.ip }]);
  }
  return reply(RCODE.NOERROR, [], [soa]);
}

function soaRecord(zone: ZoneOptions): Answer {
  return {
    name: ZONE,
    type: 'SOA',
    class: 'IN',
    ttl: zone.ttl,
    data: { mname: ZONE, rname: `hostmaster.${ZONE}`, serial: zone.serial, refresh: 3600, retry: 600, expire: 86400, minimum: zone.ttl },
  };
}

function nsRecord(zone: ZoneOptions): Answer {
  return { name: ZONE, type: 'NS', class: 'IN', ttl: zone.ttl, data: ZONE };
}

function apexA(zone: ZoneOptions): Answer[] {
  return zone.apexAddress ? [{ name: ZONE, type: 'A', class: 'IN', ttl: zone.ttl, data: zone.apexAddress }] : [];
}

/** A bare header answering `query` with `rcode` and no sections: for queries too broken to echo. */
function headerOnly(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  query.copy(out, 0, 0, 2);
  out.writeUInt16BE(QR | (query.readUInt16BE(2) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED)) | rcode, 2);
  return out;
}
