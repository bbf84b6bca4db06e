import { describe, expect, it } from 'vitest';
import { parseDisk, parseMemory } from './new-vm-options.js';

describe('the new-VM size flags', () => {
  it('reads --memory as MiB or as a size with a unit', () => {
    expect(parseMemory('2048')).toBe(2048);
    expect(parseMemory('2G')).toBe(2048);
    expect(parseMemory('512M')).toBe(512);
  });

  it('refuses --memory below 128 MiB or above 1 TiB, like vm_defaults.memory_mib', () => {
    expect(() => parseMemory('64')).toThrow('expected MiB (e.g. 2048) or a size (e.g. 2G), from 128 MiB to 1024 GiB');
    expect(() => parseMemory('99999999999')).toThrow('from 128 MiB to 1024 GiB');
    expect(() => parseMemory('2T')).toThrow('from 128 MiB to 1024 GiB');
    expect(parseMemory('1T')).toBe(1024 * 1024);
  });

  it('reads --disk as GiB or as a size with a unit', () => {
    expect(parseDisk('8')).toBe(8 * 2 ** 30);
    expect(parseDisk('16384M')).toBe(16 * 2 ** 30);
  });
});
