import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, HostCommandError } from '@banger/errors';
import { findExecutable } from '@banger/host';
import { SPARSE_BLOCK, SparseWriter } from '../fs/sparse-writer.js';
import { decompressRootfs } from './decompress-rootfs.js';

const MiB = 1024 * 1024;

/** 40 MiB: data islands at unaligned offsets (some straddling block edges), long zero runs between, and a zero tail. */
function makeHoleyImage(): Buffer {
  const image = Buffer.alloc(40 * MiB);
  randomBytes(100).copy(image, 0);
  randomBytes(MiB).copy(image, 5 * MiB + 123);
  randomBytes(3).copy(image, 12 * MiB + SPARSE_BLOCK - 1); // straddles a block boundary
  image[20 * MiB + 7] = 1; // one lonely byte
  randomBytes(2 * MiB + 5).copy(image, 25 * MiB - 2);
  return image;
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const allocated = (path: string): number => statSync(path).blocks * 512;

describe('SparseWriter', () => {
  let work: string;
  beforeAll(() => (work = mkdtempSync(join(tmpdir(), 'banger-sparse-test-'))));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes a stream fed in odd-sized chunks byte-exact, leaving zero runs as holes', async () => {
    const image = makeHoleyImage();
    const dest = join(work, 'chunks.img');
    const fh = await open(dest, 'wx');
    const writer = new SparseWriter(fh);
    const sizes = [1, 4095, 70_000, SPARSE_BLOCK, 3 * SPARSE_BLOCK + 17, 1_000_003];
    for (let offset = 0, i = 0; offset < image.length; i++) {
      const end = Math.min(image.length, offset + sizes[i % sizes.length]!);
      await writer.write(image.subarray(offset, end));
      offset = end;
    }
    expect(await writer.finish()).toBe(image.length);
    await fh.close();
    expect(statSync(dest).size).toBe(image.length);
    expect(readFileSync(dest).equals(image)).toBe(true);
    // ≈ 3.1 MiB of data rounds up to a few 64 KiB blocks; 40 MiB written densely would allocate all of it.
    expect(allocated(dest)).toBeLessThan(4 * MiB);
  });

  it('makes a file of only zeros a single hole of the full length', async () => {
    const dest = join(work, 'zeros.img');
    const fh = await open(dest, 'wx');
    const writer = new SparseWriter(fh);
    for (let i = 0; i < 16; i++) await writer.write(Buffer.alloc(MiB));
    await writer.write(Buffer.alloc(5)); // an unaligned tail
    expect(await writer.finish()).toBe(16 * MiB + 5);
    await fh.close();
    expect(statSync(dest).size).toBe(16 * MiB + 5);
    expect(allocated(dest)).toBe(0);
  });
});

describe.skipIf(!findExecutable('zstd'))('decompressRootfs', () => {
  let work: string;
  let image: Buffer;
  let bundle: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'banger-decompress-test-'));
    image = makeHoleyImage();
    writeFileSync(join(work, 'holey.img'), image);
    bundle = join(work, 'holey.img.zst');
    execFileSync('zstd', ['-q', '-3', '-o', bundle, join(work, 'holey.img')]);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('round-trips a file with long zero runs byte-exact, sparse, and returns its sha256 and size', async () => {
    const dest = join(work, 'out.img');
    const progress: number[] = [];
    const result = await decompressRootfs({ bundleFile: bundle, dest, label: 'http://x/holey.img.zst', total: image.length, progress: { bytes: (done) => progress.push(done) } });
    expect(result).toEqual({ sha256: sha256(image), size: image.length });
    expect(statSync(dest).size).toBe(image.length);
    expect(readFileSync(dest).equals(image)).toBe(true);
    expect(allocated(dest)).toBeLessThan(4 * MiB);
    expect(progress.at(-1)).toBe(image.length);
  });

  it('fails with an error naming the bundle when the zstd data is truncated', async () => {
    const truncated = join(work, 'truncated.zst');
    writeFileSync(truncated, readFileSync(bundle).subarray(0, 20_000));
    const error = await decompressRootfs({ bundleFile: truncated, dest: join(work, 'truncated.img'), label: 'http://x/truncated.zst' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostCommandError);
    expect((error as Error).message).toMatch(/^bundle http:\/\/x\/truncated\.zst: zstd -d failed: .+/);
  });

  it('stops with CancelledError when aborted, leaving no zstd running', async () => {
    const controller = new AbortController();
    const dest = join(work, 'aborted.img');
    const pending = decompressRootfs({
      bundleFile: bundle,
      dest,
      label: 'http://x/holey.img.zst',
      signal: controller.signal,
      progress: { bytes: (done) => done > 8 * MiB && controller.abort() },
    });
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(existsSync(dest)).toBe(true); // the caller removes it with its temp dir
    expect(() => execFileSync('pgrep', ['-f', `zstd -d -c -q -- ${bundle}`])).toThrow(); // pgrep exits 1: no match
  });

  it('refuses to overwrite an existing file', async () => {
    const dest = join(work, 'exists.img');
    writeFileSync(dest, 'x');
    await expect(decompressRootfs({ bundleFile: bundle, dest, label: 'b' })).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
