import { describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { GiB, MiB, TiB, formatSize, parseSize } from './size.js';

describe('parseSize', () => {
  it.each([
    ['16G', 16 * GiB],
    ['16g', 16 * GiB],
    ['16GiB', 16 * GiB],
    ['16GB', 16 * GiB],
    ['512M', 512 * MiB],
    ['1.5T', 1.5 * TiB],
    ['8192', 8192],
    ['8192b', 8192],
    [' 2 G ', 2 * GiB],
  ])('reads %s as binary bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'G', '16X', '-1G', '1e3', '16 GiBs', '8192ib'])('rejects %j with a hint', (text) => {
    expect(() => parseSize(text)).toThrow(UserError);
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'CONFIG_BAD_SIZE', hint: expect.stringContaining('"16G"') }));
  });
});

describe('formatSize', () => {
  it('uses the largest binary unit with at most one decimal', () => {
    expect(formatSize(8 * GiB)).toBe('8 GiB');
    expect(formatSize(1.5 * GiB)).toBe('1.5 GiB');
    expect(formatSize(512 * MiB)).toBe('512 MiB');
    expect(formatSize(100)).toBe('100 B');
  });
});
