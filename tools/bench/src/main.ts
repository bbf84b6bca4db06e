// `npm run bench -w tools/bench [-- [--json] [name filter…]]`: runs every
// benchmark bundled from src/benchmarks/ and prints the environment line and
// one table. Exits 1 when a benchmark fails or a banger median exceeds its limit.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isRowsBenchmark, type Benchmark, type RowsBenchmark } from './benchmark.js';
import { detectEnvironment, formatEnvironment } from './environment.js';
import { measure, measureRows, type BenchmarkResult, type SkippedBenchmark } from './measure.js';
import { formatTable } from './table.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const filters = args.filter((arg) => !arg.startsWith('--'));
const dir = join(dirname(fileURLToPath(import.meta.url)), 'benchmarks');

const benchmarks: (Benchmark<any> | RowsBenchmark<any>)[] = [];
for (const file of readdirSync(dir).filter((name) => name.endsWith('.mjs')).sort()) {
  const module = (await import(pathToFileURL(join(dir, file)).href)) as { default: Benchmark<any> | RowsBenchmark<any> | (Benchmark<any> | RowsBenchmark<any>)[] };
  benchmarks.push(...[module.default].flat());
}
const selected = benchmarks.filter((b) => filters.length === 0 || filters.some((f) => b.name.includes(f)));

const environment = await detectEnvironment();
if (!json) console.log(`${formatEnvironment(environment)}\n`);
const results: (BenchmarkResult | SkippedBenchmark)[] = [];
let failed = false;
for (const benchmark of selected) {
  if (!json) process.stderr.write(`running: ${benchmark.name}\n`);
  try {
    if (isRowsBenchmark(benchmark)) {
      const measured = await measureRows(benchmark);
      results.push(...[measured].flat());
    } else {
      results.push(await measure(benchmark));
    }
  } catch (error) {
    failed = true;
    const baseline = isRowsBenchmark(benchmark) ? (benchmark.rows[0]?.describe ?? '') : benchmark.baseline;
    results.push({ name: benchmark.name, baseline, skipped: `FAILED: ${error instanceof Error ? error.message : String(error)}` });
  }
}
if (json) console.log(JSON.stringify({ environment, results }, null, 2));
else console.log(formatTable(results));
if (failed || results.some((r) => 'overLimit' in r && r.overLimit)) process.exitCode = 1;
