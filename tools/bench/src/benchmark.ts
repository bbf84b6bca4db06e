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

/**
 * One row of a `RowsBenchmark`: a way of doing the job, timed. `run` returns
 * the measured time in ms when only part of it counts (e.g. QEMU spawn → the
 * agent's hello, not the kill after it); otherwise its wall time counts.
 */
export interface BenchRow<C> {
  /** Row label, appended to the benchmark's name in the table. */
  readonly label: string;
  /** What the row does, printed under the table. */
  readonly describe: string;
  run(context: C): Promise<number | void> | number | void;
}

/**
 * Several ways of doing one job measured side by side in one run (issue 19's
 * floor: the floor, raw QEMU, banger): one untimed warm-up round, then `runs`
 * rounds each starting at the next row (so every row goes first as often as
 * the others), each row's median and its ratio to the first row's median.
 * For jobs too slow for five rounds of each side (VM boots under TCG); each
 * row is one line of the one table, its baseline column the first row's.
 */
export interface RowsBenchmark<C = unknown> {
  readonly name: string;
  /** The first row is the baseline every row's ratio is taken against. */
  readonly rows: readonly BenchRow<C>[];
  /** Measured rounds after the warm-up (at least 1). */
  readonly runs: number;
  skip?(): string | undefined | Promise<string | undefined>;
  /** Not timed. */
  setup?(): Promise<C> | C;
  /** Not timed; also after a failure. Gets each row's measured times (warm-up excluded) when all rounds ran. */
  teardown?(context: C, measured?: ReadonlyMap<string, readonly number[]>): Promise<void> | void;
}

/** Identity helper that types a rows benchmark's context from its `setup`. */
export function defineRowsBenchmark<C>(benchmark: RowsBenchmark<C>): RowsBenchmark<C> {
  return benchmark;
}

export const isRowsBenchmark = (b: Benchmark<any> | RowsBenchmark<any>): b is RowsBenchmark<any> => 'rows' in b;
