import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { coalesce } from './coalesce.js';

/** Collects what reaches the far end: the sizes of the writes and their bytes. */
function sink(delayMs = 0): { stream: Writable; writes: number[]; data: () => Buffer } {
  const chunks: Buffer[] = [];
  const writes: number[] = [];
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      writes.push(chunk.length);
      setTimeout(done, delayMs);
    },
  });
  return { stream, writes, data: () => Buffer.concat(chunks) };
}

function* tarLikeChunks(): Generator<Buffer> {
  // A header, a little data and the padding per file, as tar-stream emits them.
  for (let i = 0; i < 3000; i++) {
    yield Buffer.alloc(512, i % 251);
    yield Buffer.alloc(100 + (i % 700), (i * 7) % 253);
    yield Buffer.alloc(512 - ((100 + (i % 700)) % 512));
  }
}

describe('coalesce', () => {
  it('turns thousands of small chunks into a few large writes with the same bytes in order', async () => {
    const expected = Buffer.concat([...tarLikeChunks()]);
    const out = sink();
    await pipeline(Readable.from(tarLikeChunks()), coalesce(64 * 1024), out.stream);
    expect(out.data().equals(expected)).toBe(true);
    expect(out.writes.length).toBeLessThanOrEqual(Math.ceil(expected.length / (64 * 1024)));
    expect(out.writes.slice(0, -1).every((n) => n >= 64 * 1024)).toBe(true);
  });

  it('flushes a tail smaller than the target at the end, and passes large chunks through', async () => {
    const big = Buffer.alloc(300 * 1024, 1);
    const out = sink();
    await pipeline(Readable.from([Buffer.from('abc'), big, Buffer.from('xyz')]), coalesce(256 * 1024), out.stream);
    expect(out.writes).toEqual([3 + big.length, 3]);
    expect(out.data().subarray(-3).toString()).toBe('xyz');
  });

  it('holds the writer back while the reader is slow instead of buffering everything', async () => {
    const slow = sink(5);
    const stage = coalesce(16 * 1024);
    let produced = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 400; i++) {
          produced += 4096;
          yield Buffer.alloc(4096, 1);
        }
      })(),
    );
    const done = pipeline(source, stage, slow.stream);
    await new Promise((resolve) => setTimeout(resolve, 30));
    // After ~30 ms the sink took a handful of 16 KiB writes; the producer may only be a few buffers ahead of it.
    const received = slow.writes.reduce((a, b) => a + b, 0);
    expect(produced - received).toBeLessThan(200 * 1024);
    await done;
    expect(slow.data().length).toBe(400 * 4096);
  });
});
