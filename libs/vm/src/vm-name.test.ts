import { describe, expect, it } from 'vitest';
import { assertVmName, generateVmName } from './vm-name.js';

describe('VM names', () => {
  it('accepts DNS labels up to 63 characters', () => {
    for (const name of ['a', 'sandbox', 'web-1', '0day', 'a'.repeat(63)]) expect(() => assertVmName(name)).not.toThrow();
  });

  it('rejects names that are not DNS labels, naming the culprit', () => {
    for (const name of ['', 'Sandbox', 'under_score', '-lead', 'trail-', 'dot.ted', 'a'.repeat(64), 'spa ce']) {
      expect(() => assertVmName(name)).toThrow(`invalid VM name "${name}"`);
    }
  });

  it('generates valid names that avoid the taken ones', () => {
    const taken = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const name = generateVmName((n) => taken.has(n));
      expect(() => assertVmName(name)).not.toThrow();
      expect(taken.has(name)).toBe(false);
      taken.add(name);
    }
  });
});
