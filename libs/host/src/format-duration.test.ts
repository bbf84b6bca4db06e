import { describe, expect, it } from 'vitest';
import { formatDuration, formatUptime } from './format-duration.js';

describe('formatDuration', () => {
  it('shows tenths of a second under a minute, then minutes and padded seconds', () => {
    expect(formatDuration(0)).toBe('0.0s');
    expect(formatDuration(420)).toBe('0.4s');
    expect(formatDuration(4_249)).toBe('4.2s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(61 * 60_000)).toBe('61m00s');
  });
});

describe('formatUptime', () => {
  it('shows the two largest units of an uptime', () => {
    expect(formatUptime(0)).toBe('0s');
    expect(formatUptime(12_345)).toBe('12s');
    expect(formatUptime((5 * 60 + 12) * 1000)).toBe('5m 12s');
    expect(formatUptime((2 * 3600 + 5 * 60 + 9) * 1000)).toBe('2h 5m');
    expect(formatUptime((3 * 86400 + 4 * 3600 + 59) * 1000)).toBe('3d 4h');
    expect(formatUptime(3 * 86400 * 1000)).toBe('3d');
  });
});
