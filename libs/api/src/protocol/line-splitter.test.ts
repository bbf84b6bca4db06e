import { describe, expect, it } from 'vitest';
import { LineSplitter, sniffRequestId } from './line-splitter.js';

describe('LineSplitter', () => {
  it('joins a line split across chunks and skips blank lines', () => {
    const s = new LineSplitter(100);
    expect(s.push(Buffer.from('{"a":'))).toEqual([]);
    expect(s.push(Buffer.from('1}\n\n{"b":2}\n{"c"'))).toEqual([
      { kind: 'line', line: '{"a":1}' },
      { kind: 'line', line: '{"b":2}' },
    ]);
  });

  it('keeps a multi-byte character that straddles two chunks intact', () => {
    const s = new LineSplitter(100);
    const bytes = Buffer.from('"é"\n');
    expect([...s.push(bytes.subarray(0, 2)), ...s.push(bytes.subarray(2))]).toEqual([{ kind: 'line', line: '"é"' }]);
  });

  it('reports an overflow once, even without a newline, and then ignores the rest', () => {
    const s = new LineSplitter(10);
    expect(s.push(Buffer.from('{"id":3,"x":"aaaaaaaa'))).toEqual([{ kind: 'overflow', head: '{"id":3,"x":"aaaaaaaa' }]);
    expect(s.push(Buffer.from('\n{"id":4}\n'))).toEqual([]);
  });
});

describe('sniffRequestId', () => {
  it('reads a leading string or number id and nothing else', () => {
    expect(sniffRequestId('{"id":"abc","method":"x"')).toBe('abc');
    expect(sniffRequestId(' { "id" : 12, "method"')).toBe(12);
    expect(sniffRequestId('{"method":"x","id":1')).toBeNull();
    expect(sniffRequestId('garbage')).toBeNull();
  });
});
