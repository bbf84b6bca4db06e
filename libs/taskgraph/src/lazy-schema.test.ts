import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { lazySchema } from './lazy-schema.js';

describe('lazySchema', () => {
  it('builds the schema on first use, once', () => {
    let builds = 0;
    const schema = lazySchema(() => {
      builds += 1;
      return z.object({ name: z.string().min(1) });
    });
    expect(builds).toBe(0);
    expect(schema.parse({ name: 'a' })).toEqual({ name: 'a' });
    expect(schema.safeParse({ name: '' }).success).toBe(false);
    expect(builds).toBe(1);
  });

  it('works wherever zod takes a schema: nested, extended, in unions, optional', () => {
    const inner = lazySchema(() => z.object({ id: z.number().int() }));
    const outer = lazySchema(() => z.object({ items: z.array(inner), first: inner.optional() }));
    const wider = lazySchema(() => inner.extend({ label: z.string() }));
    const either = lazySchema(() => z.union([z.literal('none'), inner]));

    expect(outer.parse({ items: [{ id: 1 }, { id: 2 }] })).toEqual({ items: [{ id: 1 }, { id: 2 }] });
    expect(outer.safeParse({ items: [{ id: 1.5 }] }).success).toBe(false);
    expect(wider.parse({ id: 3, label: 'x' })).toEqual({ id: 3, label: 'x' });
    expect(wider.safeParse({ id: 3 }).success).toBe(false);
    expect(either.parse('none')).toBe('none');
    expect(either.parse({ id: 4 })).toEqual({ id: 4 });
    expect(either.safeParse({ id: 'x' }).success).toBe(false);
  });

  it('is an instance of the class of what it builds', () => {
    const schema = lazySchema(() => z.string());
    expect(schema instanceof z.ZodString).toBe(true);
    expect(schema instanceof z.ZodNumber).toBe(false);
  });
});
