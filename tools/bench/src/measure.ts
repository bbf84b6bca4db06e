import type { Benchmark, RowsBenchmark } from './benchmark.js';
import { formatMs, median } from './stats.js';

/** What one benchmark measured. */
export interface BenchmarkResult {
  readonly name: string;
  readonly baseline: string;
  readonly runs: number;
  readonly bangerMs: readonly number[];
  readonly baselineMs: readonly number[];
  readonly bangerMedianMs: number;
  readonly baselineMedianMs: number;
  /** banger median / baseline median: below 1 means banger is faster. */
  readonly ratio: number;
  readonly limitMs?: number | undefined;
  readonly overLimit: boolean;
}

/** A benchmark that did not run here, and why. */
export interface SkippedBenchmark {
  readonly name: string;
  readonly baseline: string;
  readonly skipped: string;
}

const MIN_RUNS = 5;

/**
 * Runs one benchmark by the issue-11 rules: setup, one untimed warm-up of
 * each side, then `runs` (≥ 5) rounds alternating which side goes first,
 * medians and the ratio of medians; teardown always.
 */
export async function measure(benchmark: Benchmark<any>): Promise<BenchmarkResult | SkippedBenchmark> {
  const skipped = await benchmark.skip?.();
  if (skipped) return { name: benchmark.name, baseline: benchmark.baseline, skipped };
  const runs = Math.max(MIN_RUNS, benchmark.runs ?? MIN_RUNS);
  const context = await benchmark.setup?.();
  const bangerMs: number[] = [];
  const baselineMs: number[] = [];
  const time = async (fn: () => Promise<void> | void, into?: number[]) => {
    const start = performance.now();
    await fn();
    into?.push(performance.now() - start);
  };
  try {
    await time(() => benchmark.banger(context));
    await time(() => benchmark.runBaseline(context));
    for (let i = 0; i < runs; i++) {
      // Alternate the order so neither side always runs on a warmer cache.
      if (i % 2 === 0) {
        await time(() => benchmark.banger(context), bangerMs);
        await time(() => benchmark.runBaseline(context), baselineMs);
      } else {
        await time(() => benchmark.runBaseline(context), baselineMs);
        await time(() => benchmark.banger(context), bangerMs);
      }
    }
  } finally {
    await benchmark.teardown?.(context);
  }
  return resultOf({ name: benchmark.name, baseline: benchmark.baseline, runs, bangerMs, baselineMs, limitMs: benchmark.limitMs });
}

/** A result from its measured times: the medians, their ratio, and whether banger's median is over its limit. */
function resultOf(r: { name: string; baseline: string; runs: number; bangerMs: number[]; baselineMs: number[]; limitMs?: number | undefined }): BenchmarkResult {
  const bangerMedianMs = median(r.bangerMs);
  const baselineMedianMs = median(r.baselineMs);
  return {
    ...r,
    bangerMedianMs,
    baselineMedianMs,
    ratio: bangerMedianMs / baselineMedianMs,
    overLimit: r.limitMs !== undefined && bangerMedianMs > r.limitMs,
  };
}

/**
 * Runs a rows benchmark (see `RowsBenchmark`): setup, one untimed warm-up
 * round, `runs` rounds rotating which row goes first, teardown always. One
 * result per row, each against the first row (whose own ratio is 1).
 */
export async function measureRows(benchmark: RowsBenchmark<any>): Promise<BenchmarkResult[] | SkippedBenchmark> {
  const first = benchmark.rows[0];
  if (!first) throw new Error(`${benchmark.name}: no rows`);
  const skipped = await benchmark.skip?.();
  if (skipped) return { name: benchmark.name, baseline: first.describe, skipped };
  const runs = Math.max(1, Math.floor(benchmark.runs));
  const context = await benchmark.setup?.();
  const times = new Map<string, number[]>(benchmark.rows.map((row) => [row.label, []]));
  const runRow = async (index: number, round: number | undefined) => {
    const row = benchmark.rows[index]!;
    const start = performance.now();
    const reported = await row.run(context);
    const ms = typeof reported === 'number' ? reported : performance.now() - start;
    if (round !== undefined) times.get(row.label)!.push(ms);
    // Rows are slow (minutes a round): each time as it comes, so a stopped run still says something.
    process.stderr.write(`  ${benchmark.name}: ${row.label}, ${round === undefined ? 'warm-up' : `round ${round + 1}/${runs}`}: ${formatMs(ms)}\n`);
  };
  let complete = false;
  try {
    for (let i = 0; i < benchmark.rows.length; i++) await runRow(i, undefined);
    for (let round = 0; round < runs; round++) {
      // Rotate the order so no row always runs right after the same one, or always first.
      for (let k = 0; k < benchmark.rows.length; k++) await runRow((round + k) % benchmark.rows.length, round);
    }
    complete = true;
  } finally {
    await benchmark.teardown?.(context, complete ? times : undefined);
  }
  const baselineMs = times.get(first.label)!;
  return benchmark.rows.map((row, index) =>
    resultOf({
      name: `${benchmark.name}: ${row.label}`,
      baseline: index === 0 ? `${row.describe} (the baseline of the rows below)` : `${row.describe}; ratio against ${first.label}`,
      runs,
      bangerMs: times.get(row.label)!,
      baselineMs,
    }),
  );
}
