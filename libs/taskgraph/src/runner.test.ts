import { describe, expect, it } from 'vitest';
import { MemoryStepStateStore } from './memory-store.js';
import { directGraphRunner, nestedEmit } from './runner.js';
import type { StepReport } from './step.js';

describe('nestedEmit', () => {
  it('names each inner step by its title, so the outer step says what the inner graph does', async () => {
    const lines: string[] = [];
    const report = { line: (text: string) => void lines.push(text), progress: () => undefined, bytes: () => undefined } as unknown as StepReport;
    const runGraph = directGraphRunner(new MemoryStepStateStore());
    const step = (id: string, title: string) => ({ id, title, needs: [], inputs: () => ({}), isSatisfied: () => false, run: async () => ({}) });
    await runGraph({
      graphId: 'kernel:k1',
      steps: [step('kernel.fetch', 'Pull kernel k1 from oci://127.0.0.1:5000/team/kernel:v1'), { ...step('kernel.register', 'Register kernel k1'), needs: ['kernel.fetch'] }],
      signal: new AbortController().signal,
      emit: nestedEmit(report),
      explain: false,
    });
    expect(lines).toEqual(['kernel:k1: Pull kernel k1 from oci://127.0.0.1:5000/team/kernel:v1', 'kernel:k1: Register kernel k1']);
  });
});
