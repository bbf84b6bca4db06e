import { describe, expect, it } from 'vitest';
import { formatDuration } from './format.js';

describe('formatDuration', () => {
  it('shows the two largest units of an uptime', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(12_345)).toBe('12s');
    expect(formatDuration((5 * 60 + 12) * 1000)).toBe('5m 12s');
    expect(formatDuration((2 * 3600 + 5 * 60 + 9) * 1000)).toBe('2h 5m');
    expect(formatDuration((3 * 86400 + 4 * 3600 + 59) * 1000)).toBe('3d 4h');
    expect(formatDuration(3 * 86400 * 1000)).toBe('3d');
  });
});
