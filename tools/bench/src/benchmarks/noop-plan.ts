// Issue 3 / issue 11 #2: planning (and running: plan + skip) a 10-step graph
// whose steps are all satisfied, against a real SQLite file — what a re-run
// of `vm run` for a VM that is already up pays before doing nothing. Two baselines:
// - the same checks written by hand (read the 10 rows, hash the 10 input
//   files, stat the 10 outputs): the ratio is the engine's own overhead;
// - `node -e 0`: the floor of any Node CLI invocation, so the ratio says how
//   much planning adds to the latency a user already pays for `banger`.
import { openDatabase } from '@banger/store';
import { fileDigest, plan, run, SqliteStepStateStore, type Step } from '@banger/taskgraph';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBenchmark } from '../benchmark.js';

const GRAPH_ID = 'vm:bench';
const IDS = [
  'vm.fetch-kernel',
  'vm.fetch-image',
  'vm.rootfs',
  'vm.work-disk',
  'vm.host-keys',
  'vm.sync-files',
  'vm.tap',
  'vm.boot',
  'vm.wait-ssh',
  'vm.bootstrap',
];
// The shape of the VM graph: two fetches in parallel, disks, network, boot, ssh.
const NEEDS: Record<string, string[]> = {
  'vm.rootfs': ['vm.fetch-image'],
  'vm.work-disk': [],
  'vm.host-keys': ['vm.rootfs'],
  'vm.sync-files': ['vm.work-disk'],
  'vm.boot': ['vm.fetch-kernel', 'vm.host-keys', 'vm.sync-files', 'vm.tap'],
  'vm.wait-ssh': ['vm.boot'],
  'vm.bootstrap': ['vm.wait-ssh'],
};

interface Context {
  dir: string;
  db: ReturnType<typeof openDatabase>;
  store: SqliteStepStateStore;
  graph: Step<{ size: number }>[];
}

function makeGraph(dir: string): Step<{ size: number }>[] {
  return IDS.map((id) => {
    const input = join(dir, `${id}.in`);
    const output = join(dir, `${id}.out`);
    return {
      id,
      title: id,
      needs: NEEDS[id] ?? [],
      inputs: async () => ({ source: await fileDigest(input), memory: '1024', vcpu: '2' }),
      isSatisfied: async (ctx) => {
        const size = await stat(output).then((s) => s.size, () => -1);
        return size === (ctx.previousOutputs as { size: number } | undefined)?.size;
      },
      run: async (ctx) => {
        await ctx.atomicWrite(output, `${id} output`);
        return { size: `${id} output`.length };
      },
    };
  });
}

async function setup(): Promise<Context> {
  const dir = mkdtempSync(join(tmpdir(), 'banger-bench-plan-'));
  for (const id of IDS) writeFileSync(join(dir, `${id}.in`), `${id}\n`.repeat(400)); // ~4-6 KiB each
  const db = openDatabase(join(dir, 'banger.db'));
  const store = new SqliteStepStateStore(db);
  const graph = makeGraph(dir);
  const first = await run(graph, { graphId: GRAPH_ID, store });
  if (!first.ok) throw new Error(`setup run of the bench graph failed at ${first.failedStep?.stepId}`);
  const check = await plan(graph, { graphId: GRAPH_ID, store });
  const running = check.steps.filter((s) => s.action !== 'skip');
  if (running.length > 0) throw new Error(`bench graph is not all satisfied: ${running.map((s) => `${s.id} (${s.reason})`).join(', ')}`);
  return { dir, db, store, graph };
}

function teardown(ctx: Context): void {
  ctx.db.close();
  rmSync(ctx.dir, { recursive: true, force: true });
}

async function planAllSatisfied(ctx: Context): Promise<void> {
  const result = await plan(ctx.graph, { graphId: GRAPH_ID, store: ctx.store });
  if (result.steps.some((s) => s.action !== 'skip')) throw new Error('a step stopped being satisfied during the benchmark');
}

/** What re-running `vm run` for a VM that is up costs in the daemon: plan, then skip everything (events included). */
async function runAllSatisfied(ctx: Context): Promise<void> {
  let events = 0;
  const result = await run(ctx.graph, { graphId: GRAPH_ID, store: ctx.store, onEvent: () => void events++ });
  if (!result.ok || Object.values(result.steps).some((s) => s.status !== 'skipped')) {
    throw new Error('a step stopped being satisfied during the benchmark');
  }
  if (events !== IDS.length + 2) throw new Error(`expected ${IDS.length + 2} events, got ${events}`);
}

async function byHand(ctx: Context): Promise<void> {
  const rows = ctx.db.prepare('SELECT step_id, fingerprint, outputs FROM step_state WHERE graph_id = ?').all(GRAPH_ID);
  if (rows.length !== IDS.length) throw new Error('baseline read the wrong number of rows');
  await Promise.all(IDS.map((id) => fileDigest(join(ctx.dir, `${id}.in`))));
  await Promise.all(IDS.map((id) => stat(join(ctx.dir, `${id}.out`))));
}

const BY_HAND = 'the same checks by hand: read the 10 step_state rows, sha256 the 10 input files, stat the 10 outputs';

export default [
  defineBenchmark<Context>({
    name: 'no-op plan (10 steps, all satisfied)',
    baseline: BY_HAND,
    runs: 31,
    limitMs: 100,
    setup,
    teardown,
    banger: planAllSatisfied,
    runBaseline: byHand,
  }),
  defineBenchmark<Context>({
    name: 'no-op run: plan + skip (10 steps)',
    baseline: BY_HAND,
    runs: 31,
    limitMs: 100,
    setup,
    teardown,
    banger: runAllSatisfied,
    runBaseline: byHand,
  }),
  defineBenchmark<Context>({
    name: 'no-op run (10 steps) vs CLI floor',
    baseline: '`node -e 0`: starting any Node CLI at all',
    runs: 11,
    limitMs: 100,
    setup,
    teardown,
    banger: runAllSatisfied,
    runBaseline() {
      execFileSync(process.execPath, ['-e', '0']);
    },
  }),
];
