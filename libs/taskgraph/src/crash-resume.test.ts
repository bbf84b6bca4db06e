import { openDatabase } from '@banger/store';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleForNode } from './__fixtures__/bundle.js';
import { crashGraph } from './__fixtures__/crash-graph.js';
import { outPath } from './__fixtures__/file-steps.js';
import type { StepEvent } from './events.js';
import { plan } from './plan.js';
import { run } from './run.js';
import { SqliteStepStateStore } from './sqlite-store.js';

let dir: string;
let child: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taskgraph-crash-'));
  child = await bundleForNode(join(import.meta.dirname, '__fixtures__/crash-child.ts'), dir, 'crash-child');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('resume after a crash', () => {
  it('re-runs a step left running by a SIGKILLed process as "interrupted" and skips what completed', async () => {
    const work = join(dir, 'work');
    const dbPath = join(dir, 'state.db');
    await execa('mkdir', ['-p', work]);
    const proc = execa('node', [child, dbPath, work], { reject: false });
    await waitFor(() => existsSync(join(work, 'b.started')) && existsSync(outPath(work, 'd')), 'step b to start');
    proc.kill('SIGKILL');
    const exit = await proc;
    expect(exit.signal, exit.stderr).toBe('SIGKILL');
    // The killed attempt left its partial temp file behind.
    expect((await readdir(work)).some((name) => name.startsWith('.b.out.banger-tmp-'))).toBe(true);

    const db = openDatabase(dbPath);
    const store = new SqliteStepStateStore(db);
    expect(store.load('crash:test').get('b')?.status).toBe('running');
    const graph = crashGraph(work, async () => 'b for real');
    const planned = await plan(graph, { graphId: 'crash:test', store });
    expect(planned.steps.map((s) => `${s.id}: ${s.action} (${s.reason})`)).toEqual([
      'a: skip (satisfied)',
      'd: skip (satisfied)',
      'b: run (interrupted)',
      'c: run (never ran)',
    ]);

    const events: StepEvent[] = [];
    const result = await run(planned, { onEvent: (e) => events.push(e) });
    expect(result.ok).toBe(true);
    expect(events.filter((e) => e.type === 'step-started').map((e) => (e as { stepId: string }).stepId)).toEqual(['b', 'c']);
    expect((await readdir(work)).sort()).toEqual(['a.out', 'b.out', 'b.started', 'c.out', 'd.out']);
    expect(store.load('crash:test').get('b')?.status).toBe('succeeded');
    db.close();
  });
});
