import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildBundles } from './build-bundles.js';

/**
 * The installed banger.cjs compiles the CLI body with V8's code cache, kept in
 * <cache dir>/code-cache (issue #19). A cache file is only ever a speed-up:
 * whatever is in it (nothing, garbage, another build's code, a directory that
 * cannot be written), the command runs, and a bad file is replaced.
 */
describe('the CLI code cache', () => {
  let dir: string;
  let banger: string;
  let home: string;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-codecache-'));
    ({ banger } = await buildBundles(dir));
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    home = join(dir, `home${n++}`);
  });

  const cacheDir = () => join(home, 'cache', 'code-cache');
  const cacheFiles = () => (existsSync(cacheDir()) ? readdirSync(cacheDir()) : []);
  const run = (args: string[], env: Record<string, string> = {}) =>
    execFileSync(process.execPath, [banger, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, BANGER_HOME: home, ...env }, encoding: 'utf8' });
  /** The file format, written out here rather than taken from the code under test: "BGC1", CRC-32 of the payload (LE), payload. */
  const wrap = (payload: Buffer) => {
    const header = Buffer.alloc(8);
    header.write('BGC1', 0, 'latin1');
    header.writeUInt32LE(crc32(payload), 4);
    return Buffer.concat([header, payload]);
  };
  const isValid = (file: Buffer) => file.subarray(0, 4).toString('latin1') === 'BGC1' && file.readUInt32LE(4) === crc32(file.subarray(8));
  const firstRun = () => {
    expect(run(['--version']).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const files = cacheFiles();
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^cli-${process.versions.node.replaceAll('.', '\\.')}-${process.arch}-[0-9a-f]{16}\\.bin$`));
    return join(cacheDir(), files[0]!);
  };

  it('is written by the first start and reused as is by the next', () => {
    const file = firstRun();
    const first = readFileSync(file);
    expect(isValid(first)).toBe(true);
    expect(first.length).toBeGreaterThan(100_000); // the compiled body, not an empty shell
    const mtime = statSync(file).mtimeMs;
    expect(run(['vm', '--help'])).toContain('Usage: banger vm');
    expect(readFileSync(file).equals(first)).toBe(true);
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it('survives a damaged file (flipped bytes in the payload) and rewrites it', () => {
    const file = firstRun();
    const good = readFileSync(file);
    // V8 does not checksum code caches: without banger's own CRC these bytes abort node in the deserializer.
    const bad = Buffer.from(good);
    for (let i = 0; i < 64; i++) bad[5_000 + i]! ^= 0x5a;
    writeFileSync(file, bad);
    expect(run(['--version']).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const after = readFileSync(file);
    expect(after.equals(bad)).toBe(false);
    expect(isValid(after)).toBe(true);
  });

  it('survives a truncated file and rewrites it', () => {
    const file = firstRun();
    writeFileSync(file, readFileSync(file).subarray(0, 1_000));
    expect(run(['vm', '--help'])).toContain('Usage: banger vm');
    expect(isValid(readFileSync(file))).toBe(true);
  });

  it('replaces a well-formed cache that V8 rejects (the code of another script)', () => {
    const file = firstRun();
    const foreign = wrap(new Script('"another build";').createCachedData());
    writeFileSync(file, foreign);
    expect(run(['--version']).trim()).toMatch(/^\d+\.\d+\.\d+/);
    const after = readFileSync(file);
    expect(after.equals(foreign)).toBe(false);
    expect(isValid(after)).toBe(true);
    expect(after.length).toBeGreaterThan(100_000);
  });

  it('removes the caches of other builds when it writes its own', () => {
    mkdirSync(cacheDir(), { recursive: true });
    writeFileSync(join(cacheDir(), 'cli-18.0.0-x64-0123456789abcdef.bin'), 'old');
    const file = firstRun();
    expect(cacheFiles()).toEqual([file.split('/').at(-1)]);
  });

  it('runs without one when the cache directory cannot be made, or is turned off', () => {
    const notADir = join(dir, `file${n}`);
    writeFileSync(notADir, 'x');
    expect(run(['--version'], { BANGER_CACHE_DIR: join(notADir, 'cache') }).trim()).toMatch(/^\d+\.\d+\.\d+/);
    // procfs: even root cannot create anything there.
    expect(run(['--version'], { BANGER_CACHE_DIR: '/proc/banger-cache' }).trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(run(['--version'], { BANGER_CODE_CACHE: '0' }).trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(existsSync(join(home, 'cache'))).toBe(false);
  });

  it('names the missing body in one line when banger.cjs was copied alone', () => {
    const alone = join(dir, `alone${n}`);
    mkdirSync(alone);
    writeFileSync(join(alone, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(join(alone, 'banger.cjs'), readFileSync(banger));
    const r = spawnSync(process.execPath, [join(alone, 'banger.cjs'), '--version'], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', BANGER_HOME: home }, encoding: 'utf8' });
    expect(r.status).toBe(125);
    expect(r.stderr.trim().split('\n')).toEqual([`banger: cannot read ${join(alone, 'banger-cli.cjs')}: ENOENT (hint: reinstall with make install)`]);
  });

  it('runs from a read-only cache file without rewriting it', () => {
    const file = firstRun();
    const good = readFileSync(file);
    chmodSync(file, 0o400);
    expect(run(['--version']).trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(readFileSync(file).equals(good)).toBe(true);
  });
});
