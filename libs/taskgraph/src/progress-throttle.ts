/** Unit of a progress report: bytes render with rate and ETA, items as done/total. */
export type ProgressUnit = 'bytes' | 'items';

/**
 * Limits progress events to one per `intervalMs` (default 100 ms, so ≤ 10/s
 * per step) while never dropping the last value: a report that arrives too
 * soon is held and sent by the next report after the interval or by `flush()`.
 * Completion (done ≥ total) is always sent at once.
 */
export class ProgressThrottle {
  private last = Number.NEGATIVE_INFINITY;
  private pending: [number, number | undefined, ProgressUnit] | undefined;

  constructor(
    private readonly send: (done: number, total: number | undefined, unit: ProgressUnit) => void,
    private readonly intervalMs = 100,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report(done: number, total: number | undefined, unit: ProgressUnit): void {
    const now = this.now();
    if (now - this.last >= this.intervalMs || (total !== undefined && done >= total)) {
      this.pending = undefined;
      this.last = now;
      this.send(done, total, unit);
    } else {
      this.pending = [done, total, unit];
    }
  }

  /** Sends the held report, if any (called before the step's terminal event). */
  flush(): void {
    if (!this.pending) return;
    const [done, total, unit] = this.pending;
    this.pending = undefined;
    this.last = this.now();
    this.send(done, total, unit);
  }
}
