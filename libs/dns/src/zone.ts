import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { encodeReply, HEADER_BYTES, headerOnly, nameIsFaithful, OPCODE_MASK, QR, RCODE, rawQuestion, type RawQuestion } from './wire.js';

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
// Queries are small; anything bigger is garbage or an attack and is not parsed.
export const MAX_QUERY_BYTES = 4096;

/** What to do with one query: send `reply`, drop it, or forward it (a name outside `vm.`, when forwarding is allowed). */
export type QueryOutcome = { reply: Buffer } | { drop: true } | { forward: RawQuestion };

/**
 * Answers one DNS query (wire format) for the authoritative `vm.` zone, or
 * returns undefined when the packet must be dropped (too short, a response,
 * too big). Undecodable queries and QDCOUNT ≠ 1 get FORMERR; opcodes other
 * than QUERY get NOTIMP; names outside `vm.` and classes other than IN get
 * REFUSED (this function never recurses). `<name>.vm` A → the VM's address;
 * unknown names → NXDOMAIN, and other types for existing names → NODATA,
 * both with the zone's SOA in the authority section for negative caching.
 */
export function answerQuery(query: Buffer, zone: ZoneOptions): Buffer | undefined {
  const outcome = classifyQuery(query, zone, false);
  return 'reply' in outcome ? outcome.reply : undefined;
}

/**
 * answerQuery, except that with `forwardable` an IN-class query for a name
 * outside `vm.` comes back as `{ forward }` instead of REFUSED: the caller
 * (the bridge listener, for clients inside the bridge subnet) forwards it.
 * Every reply echoes the query's question bytes exactly.
 */
export function classifyQuery(query: Buffer, zone: ZoneOptions, forwardable: boolean): QueryOutcome {
  if (query.length < HEADER_BYTES || query.length > MAX_QUERY_BYTES) return { drop: true };
  const headerFlags = query.readUInt16BE(2);
  if (headerFlags & QR) return { drop: true }; // a response: answering it could start a loop
  let packet: DecodedPacket;
  let raw: RawQuestion;
  try {
    packet = dnsPacket.decode(query);
    if ((headerFlags & OPCODE_MASK) !== 0) return { reply: headerOnly(query, RCODE.NOTIMP) };
    raw = rawQuestion(query);
  } catch {
    return { reply: headerOnly(query, (headerFlags & OPCODE_MASK) !== 0 ? RCODE.NOTIMP : RCODE.FORMERR) };
  }
  const question = raw.question;
  const edns = (packet.additionals ?? []).some((a) => a.type === 'OPT');

  const reply = (rcode: number, answers: Answer[] = [], authorities: Answer[] = [], additionals: Answer[] = [], authoritative = true): { reply: Buffer } => ({
    reply: encodeReply(
      {
        id: packet.id ?? 0,
        type: 'response',
        // dns-packet's encode ignores `rcode`: it has to be ORed into the flags.
        flags: (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | (headerFlags & dnsPacket.RECURSION_DESIRED) | rcode,
        answers,
        authorities,
        additionals: edns ? [...additionals, { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as Answer] : additionals,
      },
      raw,
    ),
  });

  const name = question.name.toLowerCase().replace(/\.$/, '');
  const inZone = name === ZONE || name.endsWith(`.${ZONE}`);
  if (!inZone) return forwardable && question.class === 'IN' ? { forward: raw } : reply(RCODE.REFUSED, [], [], [], false);
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
    // VM names are plain labels: a dot (a label that held one, or a subdomain) or a byte outside
    // printable ASCII (dns-packet renders those as U+FFFD) can name no VM.
    found = vmName.includes('.') || !/^[\x21-\x7e]+$/.test(vmName) || !nameIsFaithful(raw) ? undefined : zone.lookup(vmName);
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
