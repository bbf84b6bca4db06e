/**
 * One benchmark: banger's way and a baseline doing the same job, measured
 * alternately in the same process so machine drift hits both (issue 11).
 * A file in src/benchmarks/ default-exports one `Benchmark` or an array.
 */
export interface Benchmark<C = unknown> {
  /** Row label in the table, e.g. "no-op plan (10 steps)". */
  readonly name: string;
  /** What the baseline is, printed under the table, e.g. "`node -e 0` (the floor of any Node CLI)". */
  readonly baseline: string;
  /** Measured runs of each side after one warm-up each; at least 5 (more for sub-millisecond work). */
  readonly runs?: number;
  /** When set, a banger median above it marks the row and makes `npm run bench` exit 1. */
  readonly limitMs?: number;
  /** A reason to skip on this machine (missing tool, no KVM), or undefined to run. */
  skip?(): string | undefined | Promise<string | undefined>;
  /** Prepares shared state (temp dirs, a database, a warm daemon). Not timed. */
  setup?(): Promise<C> | C;
  /** banger's side of one run. Timed. */
  banger(context: C): Promise<void> | void;
  /** The baseline's side of one run. Timed. */
  runBaseline(context: C): Promise<void> | void;
  /** Undoes `setup`, also after a failure. Not timed. */
  teardown?(context: C): Promise<void> | void;
}

/** Identity helper that types a benchmark's context from its `setup`. */
export function defineBenchmark<C>(benchmark: Benchmark<C>): Benchmark<C> {
  return benchmark;
}
