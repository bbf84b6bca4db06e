import dnsPacket from 'dns-packet';
import type { Answer, Question } from 'dns-packet';
import { InternalError } from '@banger/errors';

/**
 * dns-packet's per-section coders. They exist at runtime (and report how
 * many bytes they consumed in `.bytes`) but @types/dns-packet does not
 * declare them.
 */
interface Coder<T> {
  decode: ((buf: Buffer, offset?: number) => T) & { bytes: number };
}
const coders = dnsPacket as unknown as { name: Coder<string> & { encode(name: string): Buffer }; question: Coder<Question>; answer: Coder<Answer> };

/** A DNS message does not decode; callers answer FORMERR or drop it, so only the message matters. */
export class DnsFormatError extends InternalError {
  constructor(why: string) {
    super('DNS_MALFORMED', why);
  }
}

export const HEADER_BYTES = 12;
export const QR = 0x8000;
export const OPCODE_MASK = 0x7800;
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

/** The question section of a message with exactly one question. */
export interface RawQuestion {
  /** The question decoded (names as dns-packet renders them: for display and lookups only). */
  question: Question;
  /** Its exact bytes, to echo in a reply: re-encoding a decoded name is lossy (non-UTF-8 bytes, dots inside labels). */
  bytes: Buffer;
  /** Offset just past the question, where the answer section starts. */
  end: number;
}

/** The single question of `message` with its exact bytes; throws when QDCOUNT ≠ 1 or it does not decode. */
export function rawQuestion(message: Buffer): RawQuestion {
  if (message.length < HEADER_BYTES || message.readUInt16BE(4) !== 1) throw new DnsFormatError('not exactly one question');
  const question = coders.question.decode(message, HEADER_BYTES);
  const end = HEADER_BYTES + coders.question.decode.bytes;
  return { question, bytes: message.subarray(HEADER_BYTES, end), end };
}

/**
 * True when the question's decoded name encodes back to the same bytes
 * (ignoring case): false for labels holding a dot or non-UTF-8 bytes, whose
 * decoded text names something else.
 */
export function nameIsFaithful(question: RawQuestion): boolean {
  try {
    const encoded = coders.name.encode(question.question.name);
    const original = question.bytes.subarray(0, question.bytes.length - 4);
    return encoded.length === original.length && encoded.toString('latin1').toLowerCase() === original.toString('latin1').toLowerCase();
  } catch {
    return false;
  }
}

/** One resource record's place in a message: where its TTL field is and what it says. */
export interface RecordSlot {
  section: 'answer' | 'authority' | 'additional';
  type: string;
  ttl: number;
  /** Offset of the 32-bit TTL field (absent for OPT, whose TTL field carries EDNS flags). */
  ttlOffset?: number;
  /** The decoded record (SOA data is needed for negative caching). */
  record: Answer;
}

/**
 * Every resource record of a one-question message with the offset of its TTL
 * field, so cached answers can age in place without being re-encoded.
 * Throws on anything dns-packet cannot decode or on trailing garbage.
 */
export function recordSlots(message: Buffer, questionEnd: number): RecordSlot[] {
  const counts: Array<[RecordSlot['section'], number]> = [
    ['answer', message.readUInt16BE(6)],
    ['authority', message.readUInt16BE(8)],
    ['additional', message.readUInt16BE(10)],
  ];
  const slots: RecordSlot[] = [];
  let offset = questionEnd;
  for (const [section, count] of counts) {
    for (let i = 0; i < count; i++) {
      const record = coders.answer.decode(message, offset);
      const length = coders.answer.decode.bytes;
      coders.name.decode(message, offset);
      const ttlOffset = offset + coders.name.decode.bytes + 4;
      const type = record.type as string;
      slots.push(type === 'OPT' ? { section, type, ttl: 0, record } : { section, type, ttl: message.readUInt32BE(ttlOffset), ttlOffset, record });
      offset += length;
    }
  }
  if (offset !== message.length) throw new DnsFormatError('trailing bytes after the last record');
  return slots;
}

/**
 * Encodes a reply with dns-packet, then puts the query's own question bytes
 * in place of the re-encoded one, so the reply's question always matches the
 * query byte for byte. dns-packet never compresses names on encode, so no
 * pointer refers into the question being replaced.
 */
export function encodeReply(packet: Omit<dnsPacket.Packet, 'questions'>, question: RawQuestion): Buffer {
  const body = dnsPacket.encode({ ...packet, questions: [] });
  const out = Buffer.concat([body.subarray(0, HEADER_BYTES), question.bytes, body.subarray(HEADER_BYTES)]);
  out.writeUInt16BE(1, 4);
  return out;
}

/** A bare header answering `query` with `rcode` and no sections: for queries too broken to echo. */
export function headerOnly(query: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(HEADER_BYTES);
  query.copy(out, 0, 0, 2);
  out.writeUInt16BE(QR | (query.readUInt16BE(2) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED)) | rcode, 2);
  return out;
}

/** A reply carrying the query's question and `rcode`, nothing else (SERVFAIL, REFUSED, a truncated answer). */
export function questionOnly(query: Buffer, question: RawQuestion, rcode: number, extraFlags = 0): Buffer {
  const out = Buffer.concat([query.subarray(0, HEADER_BYTES), question.bytes]);
  out.writeUInt16BE(QR | (query.readUInt16BE(2) & (OPCODE_MASK | dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)) | dnsPacket.RECURSION_AVAILABLE | extraFlags | rcode, 2);
  out.writeUInt16BE(1, 4);
  out.fill(0, 6, HEADER_BYTES);
  return out;
}

/** The UDP payload size a query's sender accepts: its EDNS OPT size (at least 512), else 512. */
export function udpPayloadLimit(query: Buffer, questionEnd: number): number {
  try {
    const opt = recordSlots(query, questionEnd).find((s) => s.type === 'OPT');
    const size = (opt?.record as { udpPayloadSize?: number } | undefined)?.udpPayloadSize ?? 512;
    return Math.max(512, Math.min(size, 65_535));
  } catch {
    return 512;
  }
}
