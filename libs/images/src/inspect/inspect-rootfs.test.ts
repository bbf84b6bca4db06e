import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { makeTinyRootfs } from '../__fixtures__/tiny-rootfs.js';
import { readManifest, ROOT_SKEL_FILE, ROOTFS_FILE } from '../manifest.js';
import { registerRootfs } from '../register-rootfs.js';
import { checkRootfs, inspectRootfs } from './inspect-rootfs.js';

const tools = ['mkfs.ext4', 'debugfs', 'dumpe2fs'].every((t) => findExecutable(t));

describe.skipIf(!tools)('inspectRootfs and registerRootfs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-inspect-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports an ext4 image with /sbin/init (through symlinks) and sshd', async () => {
    const file = makeTinyRootfs(join(dir, 'good.ext4'));
    expect(await inspectRootfs(file)).toEqual({ ext4: true, hasInit: true, hasSshd: true, sizeBytes: 64 * 2 ** 20 });
    expect(checkRootfs(file, await inspectRootfs(file))).toEqual([]);
  });

  it('rejects a file that is not ext4, naming the file', async () => {
    const file = join(dir, 'not-ext4.img');
    writeFileSync(file, Buffer.alloc(2 * 2 ** 20, 7));
    const report = await inspectRootfs(file);
    expect(report).toEqual({ ext4: false, hasInit: false, hasSshd: false, sizeBytes: 2 * 2 ** 20 });
    expect(() => checkRootfs(file, report)).toThrow(`rootfs ${file}: not an ext4 filesystem image`);
    await expect(registerRootfs({ name: 'bad', rootfsPath: file, destDir: join(dir, 'images', 'bad') })).rejects.toMatchObject({ code: 'ROOTFS_NOT_EXT4', exitCode: 1 });
    expect(existsSync(join(dir, 'images', 'bad'))).toBe(false);
  });

  it('rejects an ext4 image without /sbin/init', async () => {
    const file = makeTinyRootfs(join(dir, 'no-init.ext4'), { init: false });
    const report = await inspectRootfs(file);
    expect(report).toMatchObject({ ext4: true, hasInit: false });
    expect(() => checkRootfs(file, report)).toThrow(`rootfs ${file}: has no /sbin/init, so the kernel has nothing to start`);
  });

  it('warns that banger cannot ssh into VMs from an image without sshd', async () => {
    const file = makeTinyRootfs(join(dir, 'no-sshd.ext4'), { sshd: false });
    const report = await inspectRootfs(file);
    expect(report).toMatchObject({ ext4: true, hasInit: true, hasSshd: false });
    expect(checkRootfs(file, report)).toEqual([
      `rootfs ${file} has no /usr/sbin/sshd: banger cannot ssh into VMs made from it (vm run/ssh will time out); install openssh-server in it`,
    ]);
  });

  it('says a missing file is not found', async () => {
    await expect(inspectRootfs(join(dir, 'nope.ext4'))).rejects.toThrow(`rootfs ${join(dir, 'nope.ext4')}: no such file`);
  });

  it('registers a rootfs as a sparse copy with its /root skeleton and a manifest', async () => {
    const file = makeTinyRootfs(join(dir, 'register.ext4'), { sshd: false });
    const destDir = join(dir, 'images', 'mine');
    const { manifest, warnings } = await registerRootfs({ name: 'mine', rootfsPath: file, destDir, kernel: 'debian-cloud' });
    expect(warnings).toHaveLength(1);
    expect(manifest).toEqual(await readManifest(destDir));
    expect(manifest).toMatchObject({ name: 'mine', sizeBytes: 64 * 2 ** 20, defaultKernel: 'debian-cloud', source: `register:${file}` });
    const copy = statSync(join(destDir, ROOTFS_FILE));
    expect(copy.blocks * 512).toBeLessThan(copy.size / 4);
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(destDir, ROOT_SKEL_FILE)], { encoding: 'utf8' });
    expect(listing).toMatch(/ 0\/0 .* \.\/\.bashrc$/m);
    await expect(registerRootfs({ name: 'mine', rootfsPath: file, destDir })).rejects.toMatchObject({ code: 'IMAGE_EXISTS' });
    expect(readdirSync(join(dir, 'images'))).toEqual(['mine']);
  });
});
