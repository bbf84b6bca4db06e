import { describe, expect, it } from 'vitest';
import { localTerminal, parseEnvOption } from './exec.js';

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

describe('vm exec --tty: the guest terminal', () => {
  it('takes the size of the local terminal and its TERM', () => {
    expect(localTerminal({ isTTY: true, columns: 132, rows: 50 }, { TERM: 'screen' })).toEqual({ cols: 132, rows: 50, term: 'screen' });
  });

  it('is 80×24 without TERM when stdout is not a terminal', () => {
    expect(localTerminal({ isTTY: false, columns: 132, rows: 50 }, {})).toEqual({ cols: 80, rows: 24 });
  });
});
