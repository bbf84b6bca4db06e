import { describe, expect, it } from 'vitest';
import { serialized } from './serialized.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('serialized', () => {
  it('runs calls with one key one after another, in order, and calls with other keys alongside', async () => {
    const log: string[] = [];
    const job = (name: string, ms: number) => async () => {
      log.push(`${name} start`);
      await sleep(ms);
      log.push(`${name} end`);
      return name;
    };
    const results = await Promise.all([serialized('a', job('a1', 30)), serialized('a', job('a2', 1)), serialized('b', job('b1', 5))]);
    expect(results).toEqual(['a1', 'a2', 'b1']);
    expect(log.indexOf('a2 start')).toBeGreaterThan(log.indexOf('a1 end'));
    expect(log.indexOf('b1 start')).toBeLessThan(log.indexOf('a1 end'));
  });

  it('goes on with the next call after one fails, and hands the failure to its caller only', async () => {
    const failing = serialized('c', async () => {
      throw new Error('first failed');
    });
    const next = serialized('c', async () => 'second ran');
    await expect(failing).rejects.toThrow('first failed');
    await expect(next).resolves.toBe('second ran');
  });
});
