import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { buildModulesImage } from './modules-image.js';

const skip = ['mkfs.ext4', 'debugfs', 'e2fsck', 'dumpe2fs'].find((tool) => !findExecutable(tool));
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A small lib/modules tree: <kver>/kernel/fs/x.ko and modules.dep. */
async function moduleTree(): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'banger-modimg-'));
  const tree = join(dir, 'modules');
  await mkdir(join(tree, '1.2.3-test/kernel/fs'), { recursive: true });
  await writeFile(join(tree, '1.2.3-test/kernel/fs/x.ko'), Buffer.alloc(300_000, 7));
  await writeFile(join(tree, '1.2.3-test/modules.dep'), 'kernel/fs/x.ko:\n');
  return tree;
}

describe.skipIf(skip)(`buildModulesImage${skip ? ` (skipped: ${skip} is not installed)` : ''}`, () => {
  it('makes a clean ext4 labelled banger-modules whose top level is the kernel release', async () => {
    const tree = await moduleTree();
    const image = join(dir!, 'modules.ext4');
    await buildModulesImage(tree, image);
    expect((await run('dumpe2fs', ['-h', image])).stdout).toMatch(/Filesystem volume name:\s+banger-modules/);
    const listing = (await run('debugfs', ['-R', 'ls /', image])).stdout;
    expect(listing).toContain('1.2.3-test');
    expect(listing).not.toContain('lost+found');
    expect((await run('e2fsck', ['-fn', image])).exitCode).toBe(0);
    expect((await run('debugfs', ['-R', 'cat /1.2.3-test/modules.dep', image])).stdout).toBe('kernel/fs/x.ko:\n');
  });

  it.skipIf(process.getuid?.() !== 0)('makes every file root-owned even when the unpacked tree is not', async () => {
    const tree = await moduleTree();
    for (const path of ['', '1.2.3-test', '1.2.3-test/kernel', '1.2.3-test/kernel/fs', '1.2.3-test/kernel/fs/x.ko', '1.2.3-test/modules.dep']) {
      await chown(join(tree, path), 1000, 1000);
    }
    // Without the fix-up mkfs.ext4 -d copies the tree's owners: the thing this option exists for.
    const plain = join(dir!, 'plain.ext4');
    await buildModulesImage(tree, plain, { forceRootOwnership: false });
    expect((await run('debugfs', ['-R', 'stat /1.2.3-test/modules.dep', plain])).stdout).toMatch(/User:\s+1000\s+Group:\s+1000/);
    const image = join(dir!, 'modules.ext4');
    await buildModulesImage(tree, image, { forceRootOwnership: true });
    for (const path of ['/', '/1.2.3-test', '/1.2.3-test/kernel/fs/x.ko', '/1.2.3-test/modules.dep']) {
      expect((await run('debugfs', ['-R', `stat ${path}`, image])).stdout, path).toMatch(/User:\s+0\s+Group:\s+0/);
    }
  });
});
