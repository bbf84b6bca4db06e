import { openDatabase } from '@banger/store';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStep, outPath } from './__fixtures__/file-steps.js';
import { formatPlan, summarizePlan } from './format-plan.js';
import { MemoryStepStateStore } from './memory-store.js';
import { plan } from './plan.js';
import { run } from './run.js';
import { SqliteStepStateStore } from './sqlite-store.js';
import type { Step } from './step.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taskgraph-plan-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const reasons = (p: Awaited<ReturnType<typeof plan>>): Record<string, string> =>
  Object.fromEntries(p.steps.map((s) => [s.id, `${s.action} (${s.reason})`]));

describe('plan', () => {
  it('appends what a step plans to an own reason to run, and asks nothing of a step it skips', async () => {
    const store = new MemoryStepStateStore();
    let asked = 0;
    const planned = (): Step => ({
      ...fileStep({ id: 'vm.template', dir }),
      plans: () => {
        asked += 1;
        return 'builds template t1';
      },
    });
    const first = await plan([planned()], { graphId: 'vm:p', store });
    expect(reasons(first)).toEqual({ 'vm.template': 'run (never ran — builds template t1)' });
    await run([planned()], { graphId: 'vm:p', store });
    asked = 0;
    const again = await plan([planned()], { graphId: 'vm:p', store });
    expect(reasons(again)).toEqual({ 'vm.template': 'skip (satisfied)' });
    expect(asked).toBe(0);
  });

  it('gives every step its exact reason, in run order', async () => {
    const store = new MemoryStepStateStore();
    const config = join(dir, 'config.txt');
    await writeFile(config, 'memory=1024');
    const graph = (memory: string): Step[] => [
      fileStep({ id: 'vm.boot', dir, needs: ['vm.fetch-kernel', 'vm.rootfs'], config: { memory } }),
      fileStep({ id: 'vm.fetch-kernel', dir }),
      fileStep({ id: 'vm.rootfs', dir, files: { config } }),
      fileStep({ id: 'vm.wait-ssh', dir, needs: ['vm.boot'] }),
      fileStep({ id: 'vm.sync', dir }),
    ];
    const first = await plan(graph('1024'), { graphId: 'vm:x', store });
    expect(first.steps.map((s) => s.id)).toEqual(['vm.fetch-kernel', 'vm.rootfs', 'vm.boot', 'vm.wait-ssh', 'vm.sync']);
    expect(Object.values(reasons(first))).toEqual(Array(5).fill('run (never ran)'));

    await run(first);
    expect(reasons(await plan(graph('1024'), { graphId: 'vm:x', store }))).toEqual({
      'vm.fetch-kernel': 'skip (satisfied)',
      'vm.rootfs': 'skip (satisfied)',
      'vm.boot': 'skip (satisfied)',
      'vm.wait-ssh': 'skip (satisfied)',
      'vm.sync': 'skip (satisfied)',
    });

    await writeFile(config, 'memory=2048');
    await rm(outPath(dir, 'vm.sync'));
    expect(reasons(await plan(graph('4096'), { graphId: 'vm:x', store }))).toEqual({
      'vm.fetch-kernel': 'skip (satisfied)',
      'vm.rootfs': 'run (inputs changed: config)',
      'vm.boot': 'run (inputs changed: memory)',
      'vm.wait-ssh': 'run (dependency re-ran: vm.boot)',
      'vm.sync': `run (not satisfied: ${outPath(dir, 'vm.sync')} is missing)`,
    });
  });

  it('says "failed last time", "interrupted" and "cancelled last time" from the recorded status', async () => {
    const store = new MemoryStepStateStore();
    const graph = [fileStep({ id: 'a', dir }), fileStep({ id: 'b', dir }), fileStep({ id: 'c', dir })];
    store.markRunning('g', 'a', '{}', 1);
    store.markRunning('g', 'b', '{}', 1);
    store.markFailed('g', 'b', { finishedAt: 2, durationMs: 1, error: { name: 'Error', code: 'X', message: 'x', exitCode: 125 } });
    store.markRunning('g', 'c', '{}', 1);
    store.markCancelled('g', 'c', { finishedAt: 2, durationMs: 1 });
    expect(reasons(await plan(graph, { graphId: 'g', store }))).toEqual({
      a: 'run (interrupted)',
      b: 'run (failed last time)',
      c: 'run (cancelled last time)',
    });
  });

  it('rejects a need on an unknown step, naming both', async () => {
    const graph = [fileStep({ id: 'vm.boot', dir, needs: ['vm.tap'] })];
    await expect(plan(graph, { graphId: 'vm:x', store: new MemoryStepStateStore() })).rejects.toMatchObject({
      code: 'TASK_GRAPH_INVALID',
      message: 'task graph vm:x: step "vm.boot" needs unknown step "vm.tap"',
    });
  });

  it('rejects a cycle and prints it', async () => {
    const graph = [fileStep({ id: 'a', dir, needs: ['c'] }), fileStep({ id: 'b', dir, needs: ['a'] }), fileStep({ id: 'c', dir, needs: ['b'] })];
    await expect(plan(graph, { graphId: 'g', store: new MemoryStepStateStore() })).rejects.toMatchObject({
      message: 'task graph g: steps form a cycle: a → c → b → a',
    });
  });

  it('rejects duplicate step ids', async () => {
    const graph = [fileStep({ id: 'a', dir }), fileStep({ id: 'a', dir })];
    await expect(plan(graph, { graphId: 'g', store: new MemoryStepStateStore() })).rejects.toThrow('step id "a" is used twice');
  });

  it('lists a destructive step as a conflict only when it would run', async () => {
    const store = new MemoryStepStateStore();
    const graph = [fileStep({ id: 'vm.rootfs', dir, destroys: 'recreates the disk of vm sandbox' })];
    const first = await plan(graph, { graphId: 'vm:sandbox', store });
    expect(first.conflicts).toEqual([{ stepId: 'vm.rootfs', title: 'Make vm.rootfs', description: 'recreates the disk of vm sandbox' }]);
    await run(first, { allowDestructive: true });
    expect((await plan(graph, { graphId: 'vm:sandbox', store })).conflicts).toEqual([]);
  });

  it('changes nothing in the state table, even for steps that would run', async () => {
    const db = openDatabase(join(dir, 'state.db'));
    const store = new SqliteStepStateStore(db);
    const input = join(dir, 'input.txt');
    await writeFile(input, 'one');
    const graph = [fileStep({ id: 'a', dir, files: { input } }), fileStep({ id: 'b', dir, needs: ['a'] })];
    await run(graph, { graphId: 'g', store });
    await writeFile(input, 'two');
    const dump = () => JSON.stringify(db.prepare('SELECT * FROM step_state ORDER BY step_id').all());
    const before = dump();
    const planned = await plan(graph, { graphId: 'g', store });
    expect(planned.steps.map((s) => s.action)).toEqual(['run', 'run']);
    expect(dump()).toBe(before);
    db.close();
  });

  it('formats a plan for --explain with one line per step and the conflicts', async () => {
    const store = new MemoryStepStateStore();
    await run([fileStep({ id: 'vm.fetch-kernel', dir, title: 'Fetch kernel' })], { graphId: 'vm:x', store });
    const graph = [
      fileStep({ id: 'vm.fetch-kernel', dir, title: 'Fetch kernel' }),
      fileStep({ id: 'vm.rootfs', dir, title: 'Build rootfs', destroys: 'recreates the disk of vm x' }),
    ];
    const planned = await plan(graph, { graphId: 'vm:x', store });
    // The JSON summary (what the daemon sends for --explain) formats the same.
    expect(formatPlan(JSON.parse(JSON.stringify(summarizePlan(planned))))).toBe(formatPlan(planned));
    expect(formatPlan(planned)).toBe(
      [
        'plan for vm:x: 1 to run, 1 to skip',
        '  skip  vm.fetch-kernel  Fetch kernel  satisfied',
        '  run   vm.rootfs        Build rootfs  never ran',
        'destroys data (refused unless explicitly allowed):',
        '  vm.rootfs: recreates the disk of vm x',
      ].join('\n'),
    );
  });

  it('checks independent steps concurrently', async () => {
    const store = new MemoryStepStateStore();
    const graph = ['a', 'b', 'c'].map((id) => fileStep({ id, dir }));
    await run(graph, { graphId: 'g', store });
    let inFlight = 0;
    let most = 0;
    const slowChecks = graph.map((step) => ({
      ...step,
      isSatisfied: async (ctx: Parameters<typeof step.isSatisfied>[0]) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 50));
        inFlight--;
        return step.isSatisfied(ctx);
      },
    }));
    const planned = await plan(slowChecks, { graphId: 'g', store });
    expect(planned.steps.map((s) => s.reason)).toEqual(['satisfied', 'satisfied', 'satisfied']);
    expect(most).toBe(3);
  });

  it('ignores a failing isSatisfied of a step that re-runs anyway because its dependency does', async () => {
    const store = new MemoryStepStateStore();
    const input = join(dir, 'input.txt');
    await writeFile(input, 'one');
    const graph = [fileStep({ id: 'a', dir, files: { input } }), fileStep({ id: 'b', dir, needs: ['a'] })];
    await run(graph, { graphId: 'g', store });
    await writeFile(input, 'two');
    const flaky = { ...graph[1]!, isSatisfied: async () => Promise.reject(new Error('ssh probe crashed')) };
    expect(reasons(await plan([graph[0]!, flaky], { graphId: 'g', store }))).toEqual({
      a: 'run (inputs changed: input)',
      b: 'run (dependency re-ran: a)',
    });
    await writeFile(input, 'one');
    await expect(plan([graph[0]!, flaky], { graphId: 'g', store })).rejects.toMatchObject({
      code: 'TASK_GRAPH_PLAN_FAILED',
      message: 'planning g: isSatisfied() of step "b" failed: ssh probe crashed',
    });
  });

  it('stops with a CancelledError when its signal is aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      plan([fileStep({ id: 'a', dir })], { graphId: 'g', store: new MemoryStepStateStore(), signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'CancelledError', message: 'planning g was cancelled' });
  });
});

