import { UserError } from '@banger/errors';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStep, outPath } from './__fixtures__/file-steps.js';
import { StepEventSchema, type StepEvent } from './events.js';
import { MemoryStepStateStore } from './memory-store.js';
import { plan } from './plan.js';
import { assertGraphSucceeded, cancelledGraphEnd, isGraphRunning, run } from './run.js';
import { StepFailedError } from './step-failed-error.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taskgraph-run-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Collects events, checking each against the published schema and JSON round trip. */
function recorder() {
  const events: StepEvent[] = [];
  const onEvent = (event: StepEvent) => {
    expect(StepEventSchema.parse(JSON.parse(JSON.stringify(event)))).toEqual(event);
    events.push(event);
  };
  const of = (stepId: string) => events.filter((e) => 'stepId' in e && e.stepId === stepId).map((e) => e.type);
  const at = (type: StepEvent['type'], stepId: string) => events.find((e) => e.type === type && 'stepId' in e && e.stepId === stepId)!.time;
  return { events, onEvent, of, at };
}

const sleepStep = (id: string, seconds: number, needs: string[] = []) =>
  fileStep({
    id,
    dir,
    needs,
    produce: async (ctx) => {
      await execa('sleep', [String(seconds)], { cancelSignal: ctx.signal });
      return id;
    },
  });

describe('run', () => {
  it('runs every step the first time and skips them all when nothing changed', async () => {
    const store = new MemoryStepStateStore();
    const graph = [fileStep({ id: 'a', dir }), fileStep({ id: 'b', dir, needs: ['a'] })];
    const first = recorder();
    const result = await run(graph, { graphId: 'g', store, onEvent: first.onEvent });
    expect(result.ok).toBe(true);
    expect(first.events.map((e) => `${e.type}${'stepId' in e ? ` ${e.stepId}` : ''}`)).toEqual([
      'graph-planned',
      'step-started a',
      'step-succeeded a',
      'step-started b',
      'step-succeeded b',
      'graph-finished',
    ]);
    expect(await readFile(outPath(dir, 'b'), 'utf8')).toContain((result.outputs.a as { sha256: string }).sha256);

    const second = recorder();
    const again = await run(graph, { graphId: 'g', store, onEvent: second.onEvent });
    expect(second.events.filter((e) => e.type === 'step-skipped')).toMatchObject([
      { stepId: 'a', reason: 'satisfied' },
      { stepId: 'b', reason: 'satisfied' },
    ]);
    expect(again.outputs).toEqual(result.outputs);
    expect(again.steps).toEqual({ a: { status: 'skipped', reason: 'satisfied' }, b: { status: 'skipped', reason: 'satisfied' } });
  });

  it('re-runs a step whose input file changed, and its dependents, but not its siblings', async () => {
    const store = new MemoryStepStateStore();
    const source = join(dir, 'source.txt');
    await writeFile(source, 'v1');
    const graph = [
      fileStep({ id: 'compile', dir, files: { source } }),
      fileStep({ id: 'package', dir, needs: ['compile'] }),
      fileStep({ id: 'docs', dir }),
    ];
    await run(graph, { graphId: 'g', store });
    await writeFile(source, 'v2');
    const rec = recorder();
    const result = await run(graph, { graphId: 'g', store, onEvent: rec.onEvent });
    expect(rec.events[0]).toMatchObject({
      type: 'graph-planned',
      steps: [
        { id: 'compile', action: 'run', reason: 'inputs changed: source' },
        { id: 'package', action: 'run', reason: 'dependency re-ran: compile' },
        { id: 'docs', action: 'skip', reason: 'satisfied' },
      ],
    });
    expect(result.steps.package).toMatchObject({ status: 'succeeded' });
    expect(await readFile(outPath(dir, 'compile'), 'utf8')).toContain('v2');
    // The recorded fingerprint is the new one: a third run skips everything.
    const third = await plan(graph, { graphId: 'g', store });
    expect(third.steps.map((s) => s.reason)).toEqual(['satisfied', 'satisfied', 'satisfied']);
  });

  it('runs independent steps at the same time and dependents after both', async () => {
    const rec = recorder();
    const graph = [sleepStep('fetch-kernel', 0.5), sleepStep('fetch-image', 0.5), sleepStep('boot', 0.1, ['fetch-kernel', 'fetch-image'])];
    await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent });
    const kernel = { start: rec.at('step-started', 'fetch-kernel'), end: rec.at('step-succeeded', 'fetch-kernel') };
    const image = { start: rec.at('step-started', 'fetch-image'), end: rec.at('step-succeeded', 'fetch-image') };
    expect(kernel.start).toBeLessThan(image.end);
    expect(image.start).toBeLessThan(kernel.end);
    expect(rec.at('step-started', 'boot')).toBeGreaterThanOrEqual(Math.max(kernel.end, image.end));
  });

  it('honours the concurrency bound', async () => {
    const rec = recorder();
    const graph = [sleepStep('a', 0.2), sleepStep('b', 0.2), sleepStep('c', 0.2)];
    await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent, concurrency: 1 });
    expect(rec.at('step-started', 'b')).toBeGreaterThanOrEqual(rec.at('step-succeeded', 'a'));
    expect(rec.at('step-started', 'c')).toBeGreaterThanOrEqual(rec.at('step-succeeded', 'b'));
  });

  it('stops dependents of a failed step, records the error with its hint, and resumes at the failure next time', async () => {
    const store = new MemoryStepStateStore();
    let bootWorks = false;
    const graph = [
      fileStep({ id: 'vm.fetch-kernel', dir }),
      fileStep({
        id: 'vm.boot',
        dir,
        needs: ['vm.fetch-kernel'],
        hint: 'see banger vm logs',
        produce: async () => {
          if (!bootWorks) throw new UserError('VM_DIED_BOOTING', 'qemu exited with status 1', { hint: 'is /dev/kvm readable?' });
          return 'booted';
        },
      }),
      fileStep({ id: 'vm.wait-ssh', dir, needs: ['vm.boot'] }),
      fileStep({ id: 'vm.bootstrap', dir, needs: ['vm.wait-ssh'] }),
    ];
    const rec = recorder();
    const result = await run(graph, { graphId: 'vm:x', store, onEvent: rec.onEvent });
    expect(result.ok).toBe(false);
    expect(result.failedStep?.stepId).toBe('vm.boot');
    expect(result.failedStep?.error).toBeInstanceOf(StepFailedError);
    expect(result.failedStep?.error).toMatchObject({
      code: 'VM_DIED_BOOTING',
      message: 'vm.boot failed: qemu exited with status 1',
      hint: 'is /dev/kvm readable?',
      exitCode: 1,
    });
    expect(() => assertGraphSucceeded(result)).toThrow('vm.boot failed: qemu exited with status 1');
    expect(rec.events.filter((e) => e.type === 'step-failed' || e.type === 'step-blocked' || e.type === 'graph-finished')).toMatchObject([
      { type: 'step-failed', stepId: 'vm.boot', error: { code: 'VM_DIED_BOOTING', message: 'qemu exited with status 1' }, hint: 'is /dev/kvm readable?' },
      { type: 'step-blocked', stepId: 'vm.wait-ssh', by: 'vm.boot' },
      { type: 'step-blocked', stepId: 'vm.bootstrap', by: 'vm.boot' },
      { type: 'graph-finished', ok: false, failedStep: 'vm.boot' },
    ]);
    expect(existsSync(outPath(dir, 'vm.wait-ssh'))).toBe(false);
    const record = store.load('vm:x').get('vm.boot');
    expect(record).toMatchObject({ status: 'failed', error: { code: 'VM_DIED_BOOTING', hint: 'is /dev/kvm readable?' } });

    bootWorks = true;
    const retry = recorder();
    const second = await run(graph, { graphId: 'vm:x', store, onEvent: retry.onEvent });
    expect(second.ok).toBe(true);
    expect(retry.events[0]).toMatchObject({
      steps: [
        { id: 'vm.fetch-kernel', action: 'skip', reason: 'satisfied' },
        { id: 'vm.boot', action: 'run', reason: 'failed last time' },
        { id: 'vm.wait-ssh', action: 'run', reason: 'never ran' },
        { id: 'vm.bootstrap', action: 'run', reason: 'never ran' },
      ],
    });
    expect(retry.of('vm.fetch-kernel')).toEqual(['step-skipped']);
  });

  it('uses the step hint when the error has none', async () => {
    const rec = recorder();
    const graph = [
      fileStep({
        id: 'vm.wait-ssh',
        dir,
        hint: 'check the guest console with banger vm logs',
        produce: async () => {
          throw new Error('ssh did not answer within 60s');
        },
      }),
    ];
    const result = await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent });
    expect(result.failedStep?.error).toMatchObject({ hint: 'check the guest console with banger vm logs', exitCode: 125, code: 'STEP_FAILED' });
    expect(rec.events.find((e) => e.type === 'step-failed')).toMatchObject({
      error: { name: 'InternalError', message: 'ssh did not answer within 60s' },
      hint: 'check the guest console with banger vm logs',
    });
  });

  it('lets a running sibling finish after a failure but starts nothing new', async () => {
    const rec = recorder();
    const graph = [
      fileStep({ id: 'bad', dir, produce: async () => Promise.reject(new Error('boom')) }),
      sleepStep('slow', 0.3),
      sleepStep('later', 0.1, ['slow']),
    ];
    const result = await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent });
    expect(result.steps).toMatchObject({ bad: { status: 'failed' }, slow: { status: 'succeeded' }, later: { status: 'blocked', by: 'bad' } });
    expect(existsSync(outPath(dir, 'slow'))).toBe(true);
  });

  it('keeps starting independent steps after a failure with keepGoing', async () => {
    const graph = [
      fileStep({ id: 'bad', dir, produce: async () => Promise.reject(new Error('boom')) }),
      sleepStep('slow', 0.2),
      sleepStep('later', 0.1, ['slow']),
      fileStep({ id: 'after-bad', dir, needs: ['bad'] }),
    ];
    const result = await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), keepGoing: true });
    expect(result.steps).toMatchObject({ later: { status: 'succeeded' }, 'after-bad': { status: 'blocked', by: 'bad' } });
  });

  it('cancels running steps on abort, removes their partial output and records them as cancelled', async () => {
    const store = new MemoryStepStateStore();
    const controller = new AbortController();
    const final = outPath(dir, 'download');
    const graph = [
      fileStep({ id: 'quick', dir }),
      fileStep({
        id: 'download',
        dir,
        produce: async (ctx, report) => {
          const temp = ctx.tempPath(final);
          await writeFile(temp, Buffer.alloc(1 << 20));
          report.bytes(1 << 20, 4 << 20);
          await execa('sleep', ['30'], { cancelSignal: ctx.signal });
          return 'done';
        },
      }),
      fileStep({ id: 'unpack', dir, needs: ['download'] }),
    ];
    const rec = recorder();
    const running = run(graph, {
      graphId: 'g',
      store,
      signal: controller.signal,
      onEvent: (event) => {
        rec.onEvent(event);
        if (event.type === 'step-progress') controller.abort();
      },
    });
    const result = await running;
    expect(result).toMatchObject({ ok: false, cancelled: true });
    expect(result.steps).toMatchObject({ quick: { status: 'succeeded' }, download: { status: 'cancelled' }, unpack: { status: 'cancelled' } });
    expect(rec.of('download')).toEqual(['step-started', 'step-progress', 'step-cancelled']);
    expect(rec.of('unpack')).toEqual(['step-cancelled']);
    expect(rec.events.at(-1)).toMatchObject({ type: 'graph-finished', ok: false, cancelled: true });
    expect(await readdir(dir)).toEqual(['quick.out']);
    expect(store.load('g').get('download')?.status).toBe('cancelled');
    expect(() => assertGraphSucceeded(result)).toThrow('g was cancelled');
    expect((await plan(graph, { graphId: 'g', store })).steps.map((s) => s.reason)).toEqual(['satisfied', 'cancelled last time', 'never ran']);
  });

  it('refuses a destructive step without allowDestructive and changes nothing', async () => {
    const store = new MemoryStepStateStore();
    const graph = [fileStep({ id: 'vm.rootfs', dir, destroys: 'recreates the disk of vm sandbox' })];
    const rec = recorder();
    await expect(
      run(graph, { graphId: 'vm:sandbox', store, onEvent: rec.onEvent, destructiveHint: 'run again with --force to recreate it' }),
    ).rejects.toMatchObject({
      code: 'TASK_GRAPH_DESTRUCTIVE',
      message: 'vm:sandbox: refusing to run a step that destroys data: vm.rootfs recreates the disk of vm sandbox',
      hint: 'run again with --force to recreate it',
      exitCode: 1,
    });
    expect(rec.events).toEqual([]);
    expect(store.load('vm:sandbox').size).toBe(0);
    expect(existsSync(outPath(dir, 'vm.rootfs'))).toBe(false);
    expect((await run(graph, { graphId: 'vm:sandbox', store, allowDestructive: true })).ok).toBe(true);
  });

  it('throttles progress events to at most ten per second per step and keeps the last value', async () => {
    const rec = recorder();
    const graph = [
      fileStep({
        id: 'fetch',
        dir,
        produce: async (_ctx, report) => {
          for (let i = 1; i <= 1000; i++) report.bytes(i * 1000);
          return 'x';
        },
      }),
    ];
    await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent });
    const progress = rec.events.filter((e) => e.type === 'step-progress');
    expect(progress.length).toBeLessThanOrEqual(3);
    expect(progress.at(-1)).toMatchObject({ done: 1_000_000, unit: 'bytes' });
  });

  it('streams output lines of a step as events, one event per line', async () => {
    const rec = recorder();
    const graph = [
      fileStep({
        id: 'build',
        dir,
        produce: async (ctx, report) => {
          const child = execa('sh', ['-c', 'echo one; echo two'], { cancelSignal: ctx.signal, lines: true });
          for await (const line of child) report.line(String(line));
          report.line('three\nfour\n');
          return 'built';
        },
      }),
    ];
    await run(graph, { graphId: 'g', store: new MemoryStepStateStore(), onEvent: rec.onEvent });
    expect(rec.events.filter((e) => e.type === 'step-output').map((e) => (e as { line: string }).line)).toEqual(['one', 'two', 'three', 'four']);
  });

  it('rejects reading the outputs of a step that is not declared as a need', async () => {
    const graph = [
      fileStep({ id: 'a', dir }),
      fileStep({ id: 'b', dir, produce: async (ctx) => String(ctx.need('a')) }),
    ];
    const result = await run(graph, { graphId: 'g', store: new MemoryStepStateStore() });
    expect(result.failedStep?.error.message).toBe('b failed: step "b" read the outputs of "a", which it does not need');
  });

  it('refuses to run a graph id that is already running in this process', async () => {
    const store = new MemoryStepStateStore();
    const first = run([sleepStep('slow', 0.3)], { graphId: 'vm:x', store });
    expect(isGraphRunning('vm:x')).toBe(true);
    await expect(run([fileStep({ id: 'other', dir })], { graphId: 'vm:x', store })).rejects.toMatchObject({
      code: 'TASK_GRAPH_BUSY',
      message: 'vm:x is already running',
    });
    expect((await first).ok).toBe(true);
    expect(isGraphRunning('vm:x')).toBe(false);
    expect((await run([fileStep({ id: 'other', dir })], { graphId: 'vm:x', store })).ok).toBe(true);
  });

  it('lets a caller wait for a cancelled run to unwind, and only for a cancelled one', async () => {
    const store = new MemoryStepStateStore();
    const controller = new AbortController();
    const running = run([sleepStep('slow', 0.3)], { graphId: 'vm:y', store, signal: controller.signal });
    expect(cancelledGraphEnd('vm:y')).toBeUndefined();
    controller.abort();
    const end = cancelledGraphEnd('vm:y');
    expect(end).toBeInstanceOf(Promise);
    await end;
    expect(isGraphRunning('vm:y')).toBe(false);
    expect((await running).ok).toBe(false);
    expect(cancelledGraphEnd('vm:y')).toBeUndefined();
  });
});

