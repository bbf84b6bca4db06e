import type { BenchmarkResult, SkippedBenchmark } from './measure.js';
import { formatMs } from './stats.js';

/**
 * The one table of issue 11, as Markdown (so it pastes into
 * docs/performance.md): benchmark | banger median | baseline median | ratio | runs,
 * then one line per benchmark saying what its baseline is.
 */
export function formatTable(results: readonly (BenchmarkResult | SkippedBenchmark)[]): string {
  const header = ['benchmark', 'banger median', 'baseline median', 'ratio', 'runs'];
  const rows = results.map((r) =>
    'skipped' in r
      ? [r.name, `skipped: ${r.skipped}`, '', '', '']
      : [
          r.name,
          `${formatMs(r.bangerMedianMs)}${r.overLimit ? ` (over the ${formatMs(r.limitMs!)} limit)` : ''}`,
          formatMs(r.baselineMedianMs),
          `${r.ratio.toFixed(2)}×`,
          String(r.runs),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const lines = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  lines.push('', 'baselines:');
  for (const r of results) lines.push(`- ${r.name}: ${r.baseline}`);
  return lines.join('\n');
}
