import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listDirectory, readImageFile, statInode } from './debugfs.js';
import { mkfsExt4, mkfsExt4Args } from './mkfs-ext4.js';
import { findExecutable } from './which.js';

describe('mkfsExt4Args', () => {
  it('spells every option, lists joined by commas, the tree, the image and the size last', () => {
    expect(
      mkfsExt4Args({ tree: '/t', image: '/i', label: 'x', size: '64M', blockSize: 4096, reservedPercent: 0, bytesPerInode: 8192, inodes: 100, features: ['^has_journal', '^resize_inode'], extended: ['root_owner=0:0'] }),
    ).toEqual(['-q', '-F', '-L', 'x', '-b', '4096', '-m', '0', '-i', '8192', '-N', '100', '-O', '^has_journal,^resize_inode', '-E', 'root_owner=0:0', '-d', '/t', '/i', '64M']);
  });

  it('leaves out what is not asked for', () => {
    expect(mkfsExt4Args({ tree: '/t', image: '/i', label: 'x', features: [] })).toEqual(['-q', '-F', '-L', 'x', '-d', '/t', '/i']);
  });
});

describe.skipIf(!findExecutable('mkfs.ext4') || !findExecutable('debugfs'))('mkfsExt4 and the debugfs reads', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes an image of a tree that debugfs reads back: files, modes, owners, symlinks, listings', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-mkfs-'));
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'sandbox\n', { mode: 0o640 });
    symlinkSync('hostname', join(tree, 'etc', 'name'));
    const image = join(dir, 'fs.ext4');
    await mkfsExt4({ tree, image, label: 'test', size: '8M', extended: ['root_owner=0:0'] });
    expect(await statInode(image, '/')).toMatchObject({ type: 'directory', uid: 0, gid: 0 });
    expect(await statInode(image, '/etc/hostname')).toMatchObject({ type: 'regular', mode: 0o640, size: 8 });
    expect(await statInode(image, '/nope')).toBeUndefined();
    expect(await statInode(image, '/etc/name')).toMatchObject({ type: 'symlink', linkTarget: 'hostname' });
    expect((await readImageFile(image, '/etc/hostname')).toString()).toBe('sandbox\n');
    expect((await listDirectory(image, '/')).sort()).toEqual(['etc', 'lost+found']);
  });

  it('fills a file of the caller\'s size when no size is given', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-mkfs-'));
    mkdirSync(join(dir, 'tree'));
    const image = join(dir, 'fs.ext4');
    writeFileSync(image, '');
    truncateSync(image, 4 * 1024 * 1024);
    const result = await mkfsExt4({ tree: join(dir, 'tree'), image, label: 'sized' });
    expect(result.exitCode).toBe(0);
    expect(await statInode(image, '/lost+found')).toMatchObject({ type: 'directory' });
  });

  it('reads back a whole file larger than 100 MB, such as the guest\'s mise binary', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-mkfs-'));
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const size = 120 * 1024 * 1024;
    const big = join(tree, 'big');
    writeFileSync(big, 'head');
    truncateSync(big, size);
    const fd = openSync(big, 'r+');
    writeSync(fd, 'tail', size - 4);
    closeSync(fd);
    const image = join(dir, 'fs.ext4');
    await mkfsExt4({ tree, image, label: 'big', size: '160M' });
    const bytes = await readImageFile(image, '/big');
    expect(bytes.length).toBe(size);
    expect(bytes.subarray(0, 4).toString()).toBe('head');
    expect(bytes.subarray(size - 4).toString()).toBe('tail');
  }, 60_000);
});
