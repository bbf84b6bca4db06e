import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256File, sha256Meter } from './sha256.js';

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const sink = () => new Writable({ write: (_chunk, _enc, cb) => cb() });

describe('sha256File', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('hashes a file larger than one read', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-sha-'));
    const data = Buffer.alloc(3 * (1 << 20) + 7, 'ab');
    writeFileSync(join(dir, 'f'), data);
    expect(await sha256File(join(dir, 'f'))).toBe(sha(data));
  });
});

describe('sha256Meter', () => {
  it('hashes and counts what flows through, reporting progress', async () => {
    const seen: number[] = [];
    const meter = sha256Meter({ onBytes: (n) => seen.push(n) });
    await pipeline(Readable.from([Buffer.from('hello '), Buffer.from('world')]), meter.stream, sink());
    expect(meter.digest()).toBe(sha('hello world'));
    expect(meter.bytes()).toBe(11);
    expect(seen).toEqual([6, 11]);
  });

  it('fails the stream with the given error once it passes the limit', async () => {
    const meter = sha256Meter({ limit: { bytes: 8, error: (n) => new Error(`got ${n} bytes`) } });
    await expect(pipeline(Readable.from([Buffer.from('12345'), Buffer.from('67890')]), meter.stream, sink())).rejects.toThrow('got 10 bytes');
  });
});
