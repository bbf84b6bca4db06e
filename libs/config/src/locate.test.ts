import { describe, expect, it } from 'vitest';
import { locateKey } from './locate.js';

const TEXT = [
  '# banger config',
  'hypervisor = "qemu"',
  '"bridge_name" = "br0"',
  'notes = """',
  'vcpu = 99',
  '"""',
  '',
  '[vm_defaults]',
  'memory_mib = 2048 # comment',
  '',
  '[[file_sync]]',
  'host = "~/a"',
  '[[file_sync]]',
  "'guest' = \"~/b\"",
].join('\n');

describe('locateKey', () => {
  it('finds plain, quoted and table keys by their path', () => {
    expect(locateKey(TEXT, ['hypervisor'])).toBe(2);
    expect(locateKey(TEXT, ['bridge_name'])).toBe(3);
    expect(locateKey(TEXT, ['vm_defaults', 'memory_mib'])).toBe(9);
    expect(locateKey(TEXT, ['vm_defaults'])).toBe(8);
  });

  it('counts [[array]] headers to find the right entry', () => {
    expect(locateKey(TEXT, ['file_sync', 0, 'host'])).toBe(12);
    expect(locateKey(TEXT, ['file_sync', 1, 'guest'])).toBe(14);
  });

  it('ignores key-like lines inside multi-line strings', () => {
    expect(locateKey(TEXT, ['vm_defaults', 'vcpu'])).toBe(8);
    expect(locateKey(TEXT, ['vcpu'])).toBeUndefined();
  });

  it('falls back to the header of the table that lacks a key', () => {
    expect(locateKey(TEXT, ['file_sync', 1, 'host'])).toBe(13);
  });
});
