import type { Benchmark } from './benchmark.js';
import { median } from './stats.js';

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
  const bangerMedianMs = median(bangerMs);
  const baselineMedianMs = median(baselineMs);
  return {
    name: benchmark.name,
    baseline: benchmark.baseline,
    runs,
    bangerMs,
    baselineMs,
    bangerMedianMs,
    baselineMedianMs,
    ratio: bangerMedianMs / baselineMedianMs,
    limitMs: benchmark.limitMs,
    overLimit: benchmark.limitMs !== undefined && bangerMedianMs > benchmark.limitMs,
  };
}
