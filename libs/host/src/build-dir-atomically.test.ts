import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '@banger/errors';
import { buildDirAtomically, buildFileAtomically } from './build-dir-atomically.js';

describe('buildDirAtomically', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'banger-build-dir-')));

  it('shows the directory only once it is complete, and returns what fill returned', async () => {
    const dest = join(fresh(), 'kernel');
    const result = await buildDirAtomically(dest, async (tmp) => {
      expect(existsSync(dest)).toBe(false);
      writeFileSync(join(tmp, 'vmlinux'), 'elf');
      return 42;
    });
    expect(result).toBe(42);
    expect(readdirSync(dir)).toEqual(['kernel']);
    expect(readFileSync(join(dest, 'vmlinux'), 'utf8')).toBe('elf');
  });

  it('leaves nothing when fill fails', async () => {
    const dest = join(fresh(), 'kernel');
    await expect(buildDirAtomically(dest, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a directory that appeared meanwhile unless asked to replace it', async () => {
    const dest = join(fresh(), 'kernel');
    const appear = async () => void mkdirSync(dest);
    await expect(buildDirAtomically(dest, appear)).rejects.toBeInstanceOf(ConflictError);
    expect(readdirSync(dir)).toEqual(['kernel']);
    await buildDirAtomically(dest, async (tmp) => writeFileSync(join(tmp, 'new'), ''), { replace: true });
    expect(readdirSync(dest)).toEqual(['new']);
    expect(readdirSync(dir)).toEqual(['kernel']);
  });

  it('first removes what a killed build left', async () => {
    const dest = join(fresh(), 'kernel');
    const dead = spawnSync('true').pid!;
    mkdirSync(join(dir, `kernel.tmp-${dead}-0123abcd`));
    await buildDirAtomically(dest, async () => undefined);
    expect(readdirSync(dir)).toEqual(['kernel']);
  });
});

describe('buildFileAtomically', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'banger-build-file-')));

  it('shows the file only once fill has written it, replacing an older one, and returns what fill returned', async () => {
    const dest = join(fresh(), 'sub', 'disk.ext4');
    expect(await buildFileAtomically(dest, async (tmp) => {
      expect(existsSync(dest)).toBe(false);
      writeFileSync(tmp, 'one');
      return 7;
    })).toBe(7);
    await buildFileAtomically(dest, async (tmp) => writeFileSync(tmp, 'two'));
    expect(readFileSync(dest, 'utf8')).toBe('two');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['disk.ext4']);
  });

  it('leaves the file as it was and no temp file when fill fails', async () => {
    const dest = join(fresh(), 'disk.ext4');
    writeFileSync(dest, 'old');
    await expect(buildFileAtomically(dest, async (tmp) => {
      writeFileSync(tmp, 'half');
      throw new Error('mkfs failed');
    })).rejects.toThrow('mkfs failed');
    expect(readFileSync(dest, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['disk.ext4']);
  });
});
