import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { CancelledError, UserError } from '@banger/errors';
import { openDatabase, type Database } from '@banger/store';
import type { Step, StepEvent } from '@banger/taskgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DaemonContext } from './context.js';
import { isGraphLocked, runGraph } from './graph-runner.js';

let dir: string;
let db: Database;
let ctx: DaemonContext;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-graph-runner-'));
  db = openDatabase(join(dir, 'banger.db'));
  ctx = { db, log: pino({ level: 'silent' }), paths: {}, config: {}, version: 'test', startedAt: 0, requestShutdown() {} } as unknown as DaemonContext;
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A step that writes `name` (slowly, if `gate` is given it waits for it) and counts its runs in `<name>.runs`. */
function fileStep(name: string, options: { needs?: string[]; gate?: Promise<void>; fail?: Error } = {}): Step<{ file: string }> {
  const file = join(dir, name);
  return {
    id: `test.${name}`,
    title: `Write ${name}`,
    needs: options.needs ?? [],
    inputs: () => ({ name }),
    isSatisfied: () => existsSync(file),
    run: async (step) => {
      const runs = join(dir, `${name}.runs`);
      writeFileSync(runs, String(Number(existsSync(runs) ? readFileSync(runs, 'utf8') : '0') + 1));
      if (options.gate) {
        await Promise.race([options.gate, new Promise((_, reject) => step.signal.addEventListener('abort', () => reject(new CancelledError('aborted'))))]);
      }
      if (options.fail) throw options.fail;
      await step.atomicWrite(file, 'done');
      return { file };
    },
  };
}

const runsOf = (name: string): number => Number(existsSync(join(dir, `${name}.runs`)) ? readFileSync(join(dir, `${name}.runs`), 'utf8') : '0');
const collector = () => {
  const events: StepEvent[] = [];
  return { events, emit: (event: StepEvent) => void events.push(event) };
};
const stepStateRows = () => db.prepare('SELECT * FROM step_state ORDER BY step_id').all();

describe('runGraph', () => {
  it('emits every event, records step state in SQLite, and skips everything on a second run', async () => {
    const steps = () => [fileStep('a'), fileStep('b', { needs: ['test.a'] })];
    const first = collector();
    const outcome = await runGraph(ctx, { graphId: 'test:one', steps: steps(), signal: new AbortController().signal, emit: first.emit });
    expect(outcome.explained).toBe(false);
    expect(first.events.map((e) => e.type)).toEqual([
      'graph-planned', 'step-started', 'step-succeeded', 'step-started', 'step-succeeded', 'graph-finished',
    ]);
    expect(stepStateRows()).toHaveLength(2);

    const second = collector();
    await runGraph(ctx, { graphId: 'test:one', steps: steps(), signal: new AbortController().signal, emit: second.emit });
    expect(second.events.filter((e) => e.type === 'step-skipped').map((e) => (e as { reason: string }).reason)).toEqual(['satisfied', 'satisfied']);
    expect([runsOf('a'), runsOf('b')]).toEqual([1, 1]);
  });

  it('returns the plan with reasons when explaining, and writes nothing', async () => {
    const { events, emit } = collector();
    const outcome = await runGraph(ctx, { graphId: 'test:explain', steps: [fileStep('a')], signal: new AbortController().signal, emit, explain: true });
    expect(outcome).toEqual({
      explained: true,
      plan: { graphId: 'test:explain', steps: [{ id: 'test.a', title: 'Write a', needs: [], action: 'run', reason: 'never ran' }], conflicts: [] },
    });
    expect(events).toEqual([]);
    expect(stepStateRows()).toEqual([]);
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it("throws the failing step's typed error with its hint kept", async () => {
    const failing = fileStep('a', { fail: new UserError('CONFIG_BAD_VALUE', 'input x is wrong', { hint: 'fix x' }) });
    const run = runGraph(ctx, { graphId: 'test:fail', steps: [failing, fileStep('b', { needs: ['test.a'] })], signal: new AbortController().signal, emit: () => {} });
    await expect(run).rejects.toMatchObject({ code: 'CONFIG_BAD_VALUE', message: 'test.a failed: input x is wrong', hint: 'fix x', exitCode: 1 });
    expect(isGraphLocked('test:fail')).toBe(false);
  });

  it('serialises runs of one graph: the second waits, then skips what the first did', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const firstEvents = collector();
    const secondEvents = collector();
    const first = runGraph(ctx, { graphId: 'test:shared', steps: [fileStep('a', { gate })], signal: new AbortController().signal, emit: firstEvents.emit });
    const second = runGraph(ctx, { graphId: 'test:shared', steps: [fileStep('a')], signal: new AbortController().signal, emit: secondEvents.emit });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(isGraphLocked('test:shared')).toBe(true);
    expect(secondEvents.events).toEqual([]); // still waiting: not even planned
    open();
    await Promise.all([first, second]);
    expect(runsOf('a')).toBe(1);
    expect(secondEvents.events.find((e) => e.type === 'step-skipped')).toMatchObject({ stepId: 'test.a', reason: 'satisfied' });
    expect(isGraphLocked('test:shared')).toBe(false);
  });

  it('lets a waiting run be cancelled without disturbing the running one', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const first = runGraph(ctx, { graphId: 'test:cancel-wait', steps: [fileStep('a', { gate })], signal: new AbortController().signal, emit: () => {} });
    const controller = new AbortController();
    const waiting = runGraph(ctx, { graphId: 'test:cancel-wait', steps: [fileStep('a')], signal: controller.signal, emit: () => {} });
    controller.abort(new CancelledError('request cancelled by the client'));
    await expect(waiting).rejects.toBeInstanceOf(CancelledError);
    open();
    await first;
    expect(runsOf('a')).toBe(1);
    expect(isGraphLocked('test:cancel-wait')).toBe(false);
  });

  it('cancels running steps when the signal aborts, records them cancelled and throws CancelledError', async () => {
    const controller = new AbortController();
    const run = runGraph(ctx, { graphId: 'test:abort', steps: [fileStep('a', { gate: new Promise(() => {}) })], signal: controller.signal, emit: () => {} });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(stepStateRows()).toMatchObject([{ graph_id: 'test:abort', step_id: 'test.a', status: 'cancelled' }]);
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('uses the lock key, so different graph ids that write the same thing run one after the other', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const order: string[] = [];
    const first = runGraph(ctx, { graphId: 'test:pull', lockKey: 'thing', steps: [fileStep('a', { gate })], signal: new AbortController().signal, emit: () => {} }).then(() => order.push('pull'));
    const second = runGraph(ctx, { graphId: 'test:build', lockKey: 'thing', steps: [fileStep('b')], signal: new AbortController().signal, emit: () => {} }).then(() => order.push('build'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runsOf('b')).toBe(0);
    open();
    await Promise.all([first, second]);
    expect(order).toEqual(['pull', 'build']);
  });
});
