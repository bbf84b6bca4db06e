/** A per-client query budget: `perSecond` sustained, bursts up to `burst`. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** The bridge listener's default: generous for a build resolving hundreds of names, far below an amplifier's needs. */
export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100, burst: 200 };
/** Clients tracked at once; the least recently seen is forgotten first (it starts again with a full budget). */
const MAX_CLIENTS = 4_096;

/**
 * Token buckets per client address. `allow(client)` spends one token and
 * says whether the client was within its budget; one client's burst never
 * touches another's bucket.
 */
export class ClientRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  limited = 0;

  constructor(
    private readonly limit: RateLimit = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = () => Date.now(),
  ) {}

  allow(client: string): boolean {
    const now = this.now();
    const bucket = this.buckets.get(client);
    if (!bucket) {
      if (this.buckets.size >= MAX_CLIENTS) this.buckets.delete(this.buckets.keys().next().value as string);
      this.buckets.set(client, { tokens: this.limit.burst - 1, at: now });
      return true;
    }
    this.buckets.delete(client); // most recently seen last
    this.buckets.set(client, bucket);
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.limited++;
      return false;
    }
    bucket.tokens -= 1;
    return true;
  }
}
