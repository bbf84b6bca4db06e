import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './codes.js';
import { lineOf, productSources, workspaceRoot } from './__fixtures__/product-sources.js';

const CODE = /'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g;

/**
 * The codes an error is constructed with: the quoted UPPER_SNAKE literals in
 * the first argument of `new FooError(…)`, `super(…)` or a `fooError(…)`
 * factory (`a ? 'X' : 'Y'` and `x ?? 'X'` give each literal; `e.code === 'X'` gives none).
 */
function constructedCodes(text: string): Array<{ code: string; index: number }> {
  const found: Array<{ code: string; index: number }> = [];
  const call = /(?:\bnew\s+[A-Z]\w*Error|\bsuper|\b[a-z]\w*Error)\s*\(/g;
  for (const match of text.matchAll(call)) {
    const start = match.index + match[0].length;
    // A literal compared against (`e.code === 'ECONNREFUSED' ? …`) is read, not thrown.
    const first = firstArgument(text, start).replace(/[!=]==?\s*'[^']*'/g, (m) => ' '.repeat(m.length));
    for (const literal of first.matchAll(CODE)) found.push({ code: literal[1]!, index: start + literal.index });
  }
  return found;
}

/** The text of a call's first argument: up to the first comma or closing paren at depth 0, skipping strings. */
function firstArgument(text: string, start: number): string {
  let depth = 0;
  let quote: string | undefined;
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) return text.slice(start, i);
      depth--;
    } else if (c === ',' && depth === 0) return text.slice(start, i);
  }
  return text.slice(start);
}

describe('the error code registry', () => {
  const sources = productSources().filter((f) => f.path !== join('libs', 'errors', 'src', 'codes.ts'));

  it('finds codes in every shape of constructor call (the scan itself works)', () => {
    const sample = `
      throw new UserError('ONE', 'x');
      throw new NotFoundError(
        'TWO',
        \`y\`,
      );
      super('THREE', message, options);
      return protocolError('FOUR', 'z');
      new UserError(encrypted ? 'FIVE' : 'SIX', 'w');
      new UserError(own?.code ?? 'SEVEN', 'v');
      new ExchangeError(error.code === 'ECONNREFUSED' ? 'refused' : 'error', 'u');
      new HostCommandError('zstd', 'NOT_A_CODE');
      new Error('EIGHT');
      call('NINE');`;
    expect(constructedCodes(sample).map((f) => f.code)).toEqual(['ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN']);
  });

  it('has every code thrown in product code', () => {
    const unregistered = sources.flatMap((file) =>
      constructedCodes(file.text)
        .filter(({ code }) => !Object.hasOwn(ERROR_CODES, code))
        .map(({ code, index }) => `${file.path}:${lineOf(file.text, index)}: ${code}`),
    );
    expect(unregistered, 'register these in libs/errors/src/codes.ts').toEqual([]);
  });

  it('lists each code once', () => {
    const text = readFileSync(join(workspaceRoot(), 'libs/errors/src/codes.ts'), 'utf8');
    const keys = [...text.matchAll(/^\s+([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
    expect(keys.length).toBe(Object.keys(ERROR_CODES).length);
    expect(keys.filter((key, i) => keys.indexOf(key) !== i)).toEqual([]);
  });

  it('lists no code that product code never uses', () => {
    const used = new Set(sources.flatMap((file) => [...file.text.matchAll(CODE)].map((m) => m[1]!)));
    expect(Object.keys(ERROR_CODES).filter((code) => !used.has(code)), 'remove these from libs/errors/src/codes.ts').toEqual([]);
  });

  it('gives every code a one-line meaning', () => {
    const bad = Object.entries(ERROR_CODES).filter(([, meaning]) => meaning.trim() === '' || meaning.includes('\n'));
    expect(bad).toEqual([]);
  });
});
