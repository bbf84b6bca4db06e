import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileStep } from './__fixtures__/file-steps.js';
import type { StepEvent } from './events.js';
import { MemoryStepStateStore } from './memory-store.js';
import { run } from './run.js';
import { formatTimings, GraphTimingsCollector } from './timings.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taskgraph-timings-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const slowStep = (id: string, ms: number, needs: string[] = []) =>
  fileStep({
    id,
    dir,
    needs,
    produce: async (_ctx, report) => {
      report.line(`${id} slept`);
      await sleep(ms);
      return id;
    },
  });

describe('GraphTimingsCollector', () => {
  it('times every step of a real run from its events: overlap shows in the start offsets, durations cover the work', async () => {
    const store = new MemoryStepStateStore();
    const graph = [slowStep('fetch', 150), slowStep('build', 120), slowStep('boot', 100, ['fetch', 'build'])];
    const collector = new GraphTimingsCollector();
    const origin = Date.now();
    await run(graph, { graphId: 'g', store, onEvent: (e: StepEvent) => collector.push(e) });
    const timings = collector.result();

    expect(timings.steps.map((s) => [s.id, s.outcome])).toEqual([['fetch', 'ran'], ['build', 'ran'], ['boot', 'ran']]);
    const step = (id: string) => timings.steps.find((s) => s.id === id)!;
    expect(step('fetch').durationMs).toBeGreaterThanOrEqual(145);
    expect(step('boot').durationMs).toBeGreaterThanOrEqual(95);
    // fetch and build ran side by side; boot waited for both.
    expect(Math.abs(step('fetch').startedAt! - step('build').startedAt!)).toBeLessThan(1000);
    expect(step('boot').startedAt!).toBeGreaterThanOrEqual(step('fetch').startedAt! + 145);
    expect(step('boot').note).toBe('boot slept');
    expect(timings.durationMs).toBeGreaterThanOrEqual(245);
    expect(timings.finishedAt! - timings.plannedAt!).toBeGreaterThanOrEqual(245);
    expect(timings.plannedAt!).toBeGreaterThanOrEqual(origin);

    const again = new GraphTimingsCollector();
    await run(graph, { graphId: 'g', store, onEvent: (e: StepEvent) => again.push(e) });
    expect(again.result().steps.map((s) => [s.id, s.outcome, s.note])).toEqual([
      ['fetch', 'skipped', 'satisfied'],
      ['build', 'skipped', 'satisfied'],
      ['boot', 'skipped', 'satisfied'],
    ]);
  });

  it('keeps a failed step with its message and the steps it blocked', async () => {
    const graph = [
      fileStep({ id: 'pull', dir, produce: async () => Promise.reject(new Error('registry said 404')) }),
      slowStep('boot', 10, ['pull']),
    ];
    const collector = new GraphTimingsCollector();
    await run(graph, { graphId: 'f', store: new MemoryStepStateStore(), onEvent: (e: StepEvent) => collector.push(e) });
    const steps = collector.result().steps;
    expect(steps.find((s) => s.id === 'pull')).toMatchObject({ outcome: 'failed' });
    expect(steps.find((s) => s.id === 'pull')!.note).toContain('registry said 404');
    expect(steps.find((s) => s.id === 'boot')).toMatchObject({ outcome: 'blocked', note: 'blocked by pull' });
  });
});

describe('formatTimings', () => {
  it('prints the phases with their share of the wall time, then the steps by start with offsets and durations', () => {
    const text = formatTimings({
      wallMs: 20_000,
      origin: 1_000_000,
      phases: [
        { name: 'CLI start → graph planned', ms: 400, what: 'start' },
        { name: 'the graph', ms: 19_000 },
        { name: 'exit', ms: 600 },
      ],
      steps: [
        { id: 'vm.boot', title: 'Boot', outcome: 'ran', startedAt: 1_001_500, durationMs: 12_345 },
        { id: 'vm.fetch-kernel', title: 'Fetch', outcome: 'skipped', startedAt: 1_000_400, note: 'satisfied' },
        { id: 'vm.wait-agent', title: 'Wait', outcome: 'planned' },
      ],
    });
    const lines = text.split('\n');
    expect(lines[0]).toBe('where the time went (wall 20.0 s)');
    expect(lines.find((l) => l.includes('CLI start'))).toMatch(/CLI start → graph planned\s+400 ms\s+2 %\s+start$/);
    expect(lines.find((l) => l.includes('the graph'))).toMatch(/19\.0 s\s+95 %$/);
    const stepLines = lines.slice(lines.findIndex((l) => l.trim().startsWith('step')) + 1);
    expect(stepLines.map((l) => l.trim().split(/\s+/)[0])).toEqual(['vm.fetch-kernel', 'vm.boot', 'vm.wait-agent']);
    expect(stepLines[0]).toMatch(/vm\.fetch-kernel\s+400 ms\s+skipped\s+satisfied$/);
    expect(stepLines[1]).toMatch(/vm\.boot\s+1500 ms\s+12\.3 s$/);
    expect(stepLines[2]).toMatch(/vm\.wait-agent\s+-\s+planned$/);
  });
});
