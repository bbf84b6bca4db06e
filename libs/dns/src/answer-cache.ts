import type { Answer } from 'dns-packet';
import { HEADER_BYTES, RCODE, recordSlots } from './wire.js';

/** Bounds of the forwarder's cache. */
export interface CacheLimits {
  /** Most answers kept (default 10 000). */
  maxEntries: number;
  /** Most bytes of answers kept (default 4 MiB). */
  maxBytes: number;
  /** Longest a record is kept whatever its TTL says, in seconds (default 3600). */
  maxTtl: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { maxEntries: 10_000, maxBytes: 4 * 1024 * 1024, maxTtl: 3_600 };

interface Entry {
  message: Buffer;
  ttlOffsets: number[];
  ttls: number[];
  storedAt: number;
  expiresAt: number;
}

/**
 * How long an upstream reply may be cached, in seconds (0: not at all).
 * Positive answers: the smallest TTL of their records. NXDOMAIN and NODATA:
 * min(SOA TTL, SOA minimum) from the authority section (RFC 2308); without
 * an SOA they are not cached. Truncated replies and other rcodes never are.
 */
export function cacheableTtl(message: Buffer, questionEnd: number, maxTtl: number): number {
  const flags = message.readUInt16BE(2);
  if (flags & 0x0200) return 0; // TC
  const rcode = flags & 0xf;
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return 0;
  const slots = recordSlots(message, questionEnd);
  const answers = slots.filter((s) => s.section === 'answer');
  if (rcode === RCODE.NOERROR && answers.length > 0) {
    return Math.min(maxTtl, ...slots.filter((s) => s.ttlOffset !== undefined).map((s) => s.ttl));
  }
  const soa = slots.find((s) => s.section === 'authority' && s.type === 'SOA');
  if (!soa) return 0;
  const minimum = ((soa.record as Answer & { data: { minimum?: number } }).data?.minimum ?? 0) >>> 0;
  return Math.min(maxTtl, soa.ttl, minimum);
}

/**
 * A TTL-honouring LRU cache of upstream replies, keyed by the exact question
 * bytes (ASCII-lowercased) and the EDNS bits that change an answer. Served
 * copies get the asker's id, question case and RD flag, and TTLs aged by
 * the time spent in the cache; they are never re-encoded.
 */
export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS,
    private readonly now: () => number = () => Date.now(),
  ) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  /** The cached answer to `query` made ready to send, or undefined. */
  get(key: string, query: Buffer, questionEnd: number): Buffer | undefined {
    const entry = this.entries.get(key);
    const now = this.now();
    if (!entry || entry.expiresAt <= now) {
      if (entry) this.delete(key, entry);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key); // refresh its place in the LRU order
    this.entries.set(key, entry);
    this.hits++;
    const age = Math.floor((now - entry.storedAt) / 1000);
    const out = Buffer.from(entry.message);
    for (const [i, offset] of entry.ttlOffsets.entries()) out.writeUInt32BE(Math.max(0, (entry.ttls[i] as number) - age), offset);
    query.copy(out, 0, 0, 2); // the asker's id
    const rd = query.readUInt16BE(2) & 0x0100;
    out.writeUInt16BE((out.readUInt16BE(2) & ~0x0100) | rd, 2);
    query.copy(out, HEADER_BYTES, HEADER_BYTES, questionEnd); // the asker's case (same length: the key is the bytes)
    return out;
  }

  /** Stores `message` (the upstream's reply, any id) when its TTLs allow. */
  set(key: string, message: Buffer, questionEnd: number): void {
    let ttl: number;
    let slots;
    try {
      ttl = cacheableTtl(message, questionEnd, this.limits.maxTtl);
      slots = recordSlots(message, questionEnd).filter((s) => s.ttlOffset !== undefined);
    } catch {
      return; // dns-packet cannot walk it: pass it on, but do not keep it
    }
    if (ttl <= 0 || message.length > this.limits.maxBytes) return;
    const existing = this.entries.get(key);
    if (existing) this.delete(key, existing);
    const now = this.now();
    const entry: Entry = {
      message: Buffer.from(message),
      ttlOffsets: slots.map((s) => s.ttlOffset as number),
      ttls: slots.map((s) => Math.min(s.ttl, this.limits.maxTtl)),
      storedAt: now,
      expiresAt: now + ttl * 1000,
    };
    this.entries.set(key, entry);
    this.bytes += entry.message.length;
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const [oldestKey, oldest] = this.entries.entries().next().value as [string, Entry];
      this.delete(oldestKey, oldest);
    }
  }

  private delete(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.message.length;
  }
}

/**
 * The cache key of a query: its question bytes with ASCII letters lowercased,
 * plus whether it carries EDNS and the DO and CD bits (they change the answer).
 */
export function cacheKey(query: Buffer, questionEnd: number, edns: { present: boolean; dnssecOk: boolean }): string {
  const question = Buffer.from(query.subarray(HEADER_BYTES, questionEnd));
  for (let i = 0; i < question.length - 4; i++) { // the name only, not QTYPE/QCLASS
    const byte = question[i] as number;
    if (byte >= 0x41 && byte <= 0x5a) question[i] = byte | 0x20;
  }
  const cd = (query.readUInt16BE(2) & 0x0010) !== 0;
  return `${question.toString('latin1')}|${edns.present ? 1 : 0}${edns.dnssecOk ? 1 : 0}${cd ? 1 : 0}`;
}
