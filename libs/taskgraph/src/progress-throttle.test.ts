import { describe, expect, it } from 'vitest';
import { ProgressThrottle } from './progress-throttle.js';

describe('ProgressThrottle', () => {
  it('sends at most one report per interval, holds the latest, and always sends completion', () => {
    let now = 0;
    const sent: [number, number | undefined][] = [];
    const throttle = new ProgressThrottle((done, total) => sent.push([done, total]), 100, () => now);
    throttle.report(1, 10, 'bytes');
    now = 50;
    throttle.report(2, 10, 'bytes');
    now = 60;
    throttle.report(3, 10, 'bytes');
    expect(sent).toEqual([[1, 10]]);
    now = 120;
    throttle.report(4, 10, 'bytes');
    now = 130;
    throttle.report(10, 10, 'bytes');
    now = 140;
    throttle.report(5, undefined, 'items');
    throttle.flush();
    throttle.flush();
    expect(sent).toEqual([
      [1, 10],
      [4, 10],
      [10, 10],
      [5, undefined],
    ]);
  });
});
