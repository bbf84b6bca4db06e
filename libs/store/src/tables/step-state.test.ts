import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../index.js';
import { StepStateTable } from './step-state.js';

describe('StepStateTable', () => {
  let db: Database;
  afterEach(() => db?.close());

  it('records each transition of a step in its row', () => {
    db = openDatabase(':memory:');
    const steps = new StepStateTable(db);
    steps.markRunning('g', 'ok', 'f1', 100);
    steps.markSucceeded('g', 'ok', 200, 100, '{"pid":42}');
    steps.markRunning('g', 'bad', 'f2', 100);
    steps.markFailed('g', 'bad', 300, 200, '{"code":"E"}');
    steps.markRunning('g', 'stop', 'f3', 100);
    steps.markCancelled('g', 'stop', 400, 300);
    const byStep = Object.fromEntries(steps.ofGraph('g').map((r) => [r.step_id, r]));
    expect(byStep).toEqual({
      ok: { graph_id: 'g', step_id: 'ok', fingerprint: 'f1', status: 'succeeded', started_at: 100, finished_at: 200, duration_ms: 100, error: null, outputs: '{"pid":42}' },
      bad: { graph_id: 'g', step_id: 'bad', fingerprint: 'f2', status: 'failed', started_at: 100, finished_at: 300, duration_ms: 200, error: '{"code":"E"}', outputs: null },
      stop: { graph_id: 'g', step_id: 'stop', fingerprint: 'f3', status: 'cancelled', started_at: 100, finished_at: 400, duration_ms: 300, error: null, outputs: null },
    });
  });

  it('a new attempt replaces the row and clears the previous result', () => {
    db = openDatabase(':memory:');
    const steps = new StepStateTable(db);
    steps.markRunning('g', 's', 'f1', 1);
    steps.markFailed('g', 's', 2, 1, '{}');
    steps.markRunning('g', 's', 'f2', 3);
    expect(steps.ofGraph('g')).toEqual([
      { graph_id: 'g', step_id: 's', fingerprint: 'f2', status: 'running', started_at: 3, finished_at: null, duration_ms: null, error: null, outputs: null },
    ]);
  });

  it('removes one graph instance and keeps the others', () => {
    db = openDatabase(':memory:');
    const steps = new StepStateTable(db);
    steps.markRunning('vm:a', 's', 'f', 1);
    steps.markRunning('vm:b', 's', 'f', 1);
    steps.removeGraph('vm:a');
    expect(steps.ofGraph('vm:a')).toEqual([]);
    expect(steps.ofGraph('vm:b')).toHaveLength(1);
  });
});
