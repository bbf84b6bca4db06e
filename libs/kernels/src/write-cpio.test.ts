import { lstat, mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { writeCpio, writeCpioGz, type CpioEntry } from './write-cpio.js';

const entries: CpioEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'file', path: 'bin/hello', data: Buffer.from('#!/bin/sh\necho hello\n'), mode: 0o755 },
  { type: 'symlink', path: 'bin/sh', target: '/bin/busybox' },
  { type: 'dir', path: 'dev' },
  { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
  { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
  { type: 'dir', path: 'tmp', mode: 0o1777 },
  // Lengths 0..3 past a multiple of 4 exercise every padding case.
  { type: 'file', path: 'odd1', data: Buffer.from('a') },
  { type: 'file', path: 'odd22', data: Buffer.from('bb') },
  { type: 'file', path: 'odd333', data: Buffer.from('ccc') },
  { type: 'file', path: 'empty', data: Buffer.alloc(0) },
  { type: 'file', path: 'binary.bin', data: Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 31) & 0xff)) },
];

const haveCpio = !!findExecutable('cpio');
const isRoot = process.getuid?.() === 0;
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe.skipIf(!haveCpio)('writeCpio read back by GNU cpio', () => {
  it('lists every entry in order followed by nothing else', async () => {
    const { stdout } = await run('cpio', ['-t', '--quiet'], { input: writeCpio(entries) });
    expect(stdout.trim().split('\n')).toEqual(entries.map((e) => e.path));
  });

  it('records every entry as owned by root', async () => {
    const { stdout } = await run('cpio', ['-tv', '--quiet', '--numeric-uid-gid'], { input: writeCpio(entries) });
    for (const line of stdout.trim().split('\n')) expect(line.split(/\s+/).slice(2, 4)).toEqual(['0', '0']);
  });

  it('extracts files, modes, symlinks and device nodes as written', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-cpio-'));
    await run('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: writeCpio(entries), cwd: dir });
    for (const entry of entries) {
      const path = join(dir, entry.path);
      const info = await lstat(path);
      if (entry.type === 'file') {
        expect((await readFile(path)).equals(entry.data)).toBe(true);
        expect(info.mode & 0o7777).toBe(entry.mode ?? 0o644);
      } else if (entry.type === 'symlink') {
        expect(await readlink(path)).toBe(entry.target);
      } else if (entry.type === 'dir') {
        expect(info.isDirectory()).toBe(true);
        expect(info.mode & 0o7777).toBe(entry.mode ?? 0o755);
      } else if (isRoot) {
        // mknod needs root; as a user cpio skips device nodes.
        expect(info.isCharacterDevice()).toBe(true);
        expect([Math.floor(info.rdev / 256), info.rdev % 256]).toEqual([entry.major, entry.minor]);
      }
    }
  });

  it('gzips to the same archive', () => {
    expect(gunzipSync(writeCpioGz(entries)).equals(writeCpio(entries))).toBe(true);
  });
});

describe('writeCpio', () => {
  it('writes the same bytes for the same entries', () => {
    expect(writeCpio(entries).equals(writeCpio(entries))).toBe(true);
  });

  it('ends with the TRAILER!!! record and a 4-byte aligned length', () => {
    const archive = writeCpio(entries);
    expect(archive.length % 4).toBe(0);
    expect(archive.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
    expect(archive.subarray(0, 6).toString('ascii')).toBe('070701');
  });

  it('refuses an entry whose directory is not listed before it', () => {
    expect(() => writeCpio([{ type: 'file', path: 'etc/passwd', data: Buffer.from('x') }])).toThrow(
      'cannot write cpio entry etc/passwd: its directory etc is not listed before it',
    );
  });

  it('refuses paths that climb out of the archive', () => {
    expect(() => writeCpio([{ type: 'file', path: '../escape', data: Buffer.from('x') }])).toThrow(
      'cannot write cpio entry "../escape": not a plain relative path',
    );
  });
});
