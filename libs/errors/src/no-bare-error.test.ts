import { describe, expect, it } from 'vitest';
import { lineOf, productSources } from './__fixtures__/product-sources.js';

const BARE = /\bthrow\s+new\s+Error\s*\(/g;

describe('product code', () => {
  it('recognises a bare throw (the scan itself works)', () => {
    expect('x;\n  throw new Error(`a`);\nthrow new UserError("A", "b"); throw   new Error (1)'.match(BARE)).toHaveLength(2);
  });

  it('throws no bare Error: every failure is a typed class with a code and a user-facing message', () => {
    const bare = productSources().flatMap((file) => [...file.text.matchAll(BARE)].map((m) => `${file.path}:${lineOf(file.text, m.index)}`));
    expect(bare, 'use UserError / InternalError / HostCommandError … from @banger/errors').toEqual([]);
  });
});
