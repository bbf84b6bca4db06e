import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeJsonAtomic } from './write-file-atomic.js';

describe('writeFileAtomic', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('replaces a file whole, with exactly the mode asked for, leaving no temp behind', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-atomic-'));
    writeFileSync(join(dir, 'config'), 'old');
    await writeFileAtomic(join(dir, 'config'), 'new', 0o640);
    expect(readdirSync(dir)).toEqual(['config']);
    expect(readFileSync(join(dir, 'config'), 'utf8')).toBe('new');
    expect(statSync(join(dir, 'config')).mode & 0o777).toBe(0o640);
  });

  it('creates a missing parent directory', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-atomic-'));
    await writeFileAtomic(join(dir, 'a', 'b', 'file'), 'x');
    expect(readFileSync(join(dir, 'a', 'b', 'file'), 'utf8')).toBe('x');
  });

  it('writes JSON two-space indented with a final newline, world-readable', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-atomic-'));
    await writeJsonAtomic(join(dir, 'index.json'), { a: [1] });
    expect(readFileSync(join(dir, 'index.json'), 'utf8')).toBe('{\n  "a": [\n    1\n  ]\n}\n');
    expect(statSync(join(dir, 'index.json')).mode & 0o777).toBe(0o644);
  });
});

describe('temps left by a writer killed mid-write', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('are removed by the next write of that file; a live writer\'s temp and other files\' temps are kept', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-atomic-'));
    const dead = spawnSync('true').pid!;
    writeFileSync(join(dir, `.known_hosts.${dead}.0badc0de.tmp`), 'half');
    writeFileSync(join(dir, `.known_hosts.${process.ppid}.0badc0de.tmp`), 'being written');
    writeFileSync(join(dir, `.config.${dead}.0badc0de.tmp`), 'another file');
    await writeFileAtomic(join(dir, 'known_hosts'), 'pinned\n');
    expect(readdirSync(dir).sort()).toEqual([`.config.${dead}.0badc0de.tmp`, `.known_hosts.${process.ppid}.0badc0de.tmp`, 'known_hosts']);
  });
});
