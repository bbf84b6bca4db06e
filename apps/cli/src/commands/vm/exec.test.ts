import { describe, expect, it } from 'vitest';
import { parseEnvOption } from './exec.js';

describe('vm exec --env', () => {
  it('collects repeated NAME=VALUE pairs; the value may hold = and be empty', () => {
    const one = parseEnvOption('A=1');
    const two = parseEnvOption('B=x=y', one);
    expect(parseEnvOption('EMPTY=', two)).toEqual({ A: '1', B: 'x=y', EMPTY: '' });
  });

  it('refuses a value without = or with a bad name, naming it', () => {
    expect(() => parseEnvOption('NOEQUALS')).toThrow('"NOEQUALS" is not NAME=VALUE (NAME: letters, digits, _)');
    expect(() => parseEnvOption('1X=y')).toThrow('"1X=y" is not NAME=VALUE');
    expect(() => parseEnvOption('=y')).toThrow('"=y" is not NAME=VALUE');
  });
});
