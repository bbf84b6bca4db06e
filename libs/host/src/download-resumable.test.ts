import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError, UserError } from '@banger/errors';
import { downloadResumable, type DownloadErrors } from './download-resumable.js';

const DATA = Buffer.from('0123456789'.repeat(1000));
const SHA = createHash('sha256').update(DATA).digest('hex');

const errors: DownloadErrors = {
  unreachable: (why) => new InternalError('BUNDLE_UNREACHABLE', `unreachable: ${why}`),
  failed: (why) => new InternalError('BUNDLE_DOWNLOAD_FAILED', `failed: ${why}`),
  mismatch: (actual) => new UserError('BUNDLE_CHECKSUM_MISMATCH', `mismatch: ${actual.size} bytes`),
};

/** Serves DATA on loopback; `cut` bytes then a dropped connection on the first request without a Range. */
async function serve(options: { cut?: number; status?: number } = {}): Promise<{ url: string; ranges: string[]; server: Server }> {
  const ranges: string[] = [];
  let cut = options.cut;
  const server = createServer((req, res) => {
    ranges.push(req.headers.range ?? '');
    if (options.status) return void res.writeHead(options.status).end();
    const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
    const body = DATA.subarray(from);
    res.writeHead(from ? 206 : 200, { 'content-length': body.length, ...(from ? { 'content-range': `bytes ${from}-${DATA.length - 1}/${DATA.length}` } : {}) });
    if (cut !== undefined) {
      res.write(body.subarray(0, cut));
      cut = undefined;
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundle`, ranges, server };
}

describe('downloadResumable', () => {
  let dir: string;
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('downloads, verifies and names the file; a second call trusts the name', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-dl-'));
    const served = await serve();
    server = served.server;
    const target = join(dir, 'cache', 'b.zst');
    const progress: number[] = [];
    expect(await downloadResumable({ url: served.url, target, sha256: SHA, size: DATA.length, errors, progress: { bytes: (n) => progress.push(n) } })).toBe(target);
    expect(readFileSync(target)).toEqual(DATA);
    expect(progress.at(-1)).toBe(DATA.length);
    await downloadResumable({ url: served.url, target, sha256: SHA, size: DATA.length, errors });
    expect(served.ranges).toHaveLength(1);
  });

  it('resumes with a Range request after the connection drops, the size unknown', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-dl-'));
    const served = await serve({ cut: 4000 });
    server = served.server;
    const lines: string[] = [];
    const target = join(dir, 'b.zst');
    await downloadResumable({ url: served.url, target, sha256: SHA, errors, progress: { line: (l) => lines.push(l) } });
    expect(readFileSync(target)).toEqual(DATA);
    expect(served.ranges).toEqual(['', 'bytes=4000-']);
    expect(lines.join('\n')).toContain('download interrupted at 4000 of unknown bytes');
  });

  it('discards a complete file with the wrong sha256, through the caller\'s error', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-dl-'));
    const served = await serve();
    server = served.server;
    await expect(downloadResumable({ url: served.url, target: join(dir, 'b.zst'), sha256: '0'.repeat(64), errors })).rejects.toThrow(`mismatch: ${DATA.length} bytes`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not retry an HTTP error, and says it through the caller\'s error', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-dl-'));
    const served = await serve({ status: 404 });
    server = served.server;
    await expect(downloadResumable({ url: served.url, target: join(dir, 'b.zst'), sha256: SHA, errors })).rejects.toThrow('unreachable: HTTP 404 Not Found');
    expect(served.ranges).toHaveLength(1);
  });

  it('reads a local file, and hashes a cached target again when asked to', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-dl-'));
    writeFileSync(join(dir, 'source'), DATA);
    const target = join(dir, 'b.zst');
    await downloadResumable({ url: `file://${join(dir, 'source')}`, target, sha256: SHA, size: DATA.length, errors });
    expect(readFileSync(target)).toEqual(DATA);
    writeFileSync(target, 'tampered');
    await downloadResumable({ url: join(dir, 'source'), target, sha256: SHA, reverifyTarget: true, errors });
    expect(readFileSync(target)).toEqual(DATA);
  });
});
