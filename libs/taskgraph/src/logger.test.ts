import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryStepStateStore } from './memory-store.js';
import { run } from './run.js';
import type { StepLogger } from './step.js';

describe('logging', () => {
  it('accepts a pino logger as is and logs a step failure with its fields', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger: StepLogger = pino({ base: null }, sink);
    const step = { id: 'a', title: 'A', needs: [], inputs: () => ({}), isSatisfied: () => false, run: async () => Promise.reject(new Error('boom')) };
    await run([step], { graphId: 'g', store: new MemoryStepStateStore(), logger });
    expect(lines.map((line) => JSON.parse(line))).toContainEqual(
      expect.objectContaining({ msg: 'task graph step failed', graphId: 'g', stepId: 'a', error: 'a failed: boom' }),
    );
  });
});
