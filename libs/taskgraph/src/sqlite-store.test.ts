import { openDatabase } from '@banger/store';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStepStateStore } from './sqlite-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taskgraph-sqlite-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SqliteStepStateStore', () => {
  it('persists every transition across a reopen of the database file', () => {
    const path = join(dir, 'banger.db');
    const first = new SqliteStepStateStore(openDatabase(path));
    first.markRunning('vm:a', 'vm.boot', '{"digest":"d1"}', 1000);
    first.markSucceeded('vm:a', 'vm.boot', { finishedAt: 1500, durationMs: 499.6, outputs: { pid: 42 } });
    first.markRunning('vm:a', 'vm.wait-ssh', '{"digest":"d2"}', 1600);
    first.markFailed('vm:a', 'vm.wait-ssh', {
      finishedAt: 1700,
      durationMs: 100,
      error: { name: 'UserError', code: 'SSH', message: 'no answer', hint: 'look at the console', exitCode: 1 },
    });
    first.markRunning('vm:a', 'vm.sync', '{"digest":"d3"}', 1800);

    const again = new SqliteStepStateStore(openDatabase(path));
    const records = again.load('vm:a');
    expect(Object.fromEntries(records)).toEqual({
      'vm.boot': {
        graphId: 'vm:a',
        stepId: 'vm.boot',
        fingerprint: '{"digest":"d1"}',
        status: 'succeeded',
        startedAt: 1000,
        finishedAt: 1500,
        durationMs: 500,
        error: undefined,
        outputs: { pid: 42 },
      },
      'vm.wait-ssh': expect.objectContaining({ status: 'failed', error: expect.objectContaining({ hint: 'look at the console' }) }),
      'vm.sync': expect.objectContaining({ status: 'running', startedAt: 1800, finishedAt: undefined }),
    });
  });

  it('clears the previous result when a step starts again', () => {
    const store = new SqliteStepStateStore(openDatabase(':memory:'));
    store.markRunning('g', 's', 'f1', 1);
    store.markFailed('g', 's', { finishedAt: 2, durationMs: 1, error: { name: 'E', code: 'E', message: 'x', exitCode: 125 } });
    store.markRunning('g', 's', 'f2', 3);
    expect(store.load('g').get('s')).toMatchObject({ fingerprint: 'f2', status: 'running', error: undefined, finishedAt: undefined });
  });

  it('forgets one graph instance and keeps the others', () => {
    const store = new SqliteStepStateStore(openDatabase(':memory:'));
    store.markRunning('vm:a', 's', 'f', 1);
    store.markRunning('vm:b', 's', 'f', 1);
    store.forget('vm:a');
    expect(store.load('vm:a').size).toBe(0);
    expect(store.load('vm:b').size).toBe(1);
  });
});
