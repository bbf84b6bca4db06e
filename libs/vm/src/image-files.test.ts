import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { statInode } from '@banger/disks';
import { findExecutable, run } from '@banger/host';
import { readImageText } from './image-files.js';
import { writeMachineIdentity } from './machine-identity.js';
import { relaxWorkDiskTimeout } from './work-disk-timeout.js';

const dir = mkdtempSync(join(tmpdir(), 'banger-image-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real ext4 image holding `files` (mkfs.ext4 -d, no mount). */
async function image(name: string, files: Record<string, string>): Promise<string> {
  const tree = join(dir, `${name}-tree`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), content);
  }
  mkdirSync(tree, { recursive: true });
  const file = join(dir, `${name}.ext4`);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, file, '16M']);
  return file;
}

const FSTAB = [
  '# Written by banger',
  '/dev/vda / ext4 rw,relatime 0 1',
  'LABEL=banger-work /root ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2',
  '',
].join('\n');

describe.skipIf(!findExecutable('debugfs') || !findExecutable('mkfs.ext4'))('editing a VM rootfs without mounting it', () => {
  it('gives the rootfs its own hostname and a fresh machine-id, owned by root', async () => {
    const rootfs = await image('identity', { 'etc/hostname': 'image\n', 'etc/machine-id': '' });
    const first = await writeMachineIdentity(rootfs, 'sandbox');
    expect(await readImageText(rootfs, '/etc/hostname')).toBe('sandbox\n');
    expect(await readImageText(rootfs, '/etc/machine-id')).toBe(`${first.machineId}\n`);
    expect(first.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(await statInode(rootfs, '/etc/hostname')).toMatchObject({ mode: 0o644, uid: 0, gid: 0 });
    const second = await writeMachineIdentity(rootfs, 'sandbox');
    expect(second.machineId).not.toBe(first.machineId);
  });

  it("raises the work disk's device timeout and leaves the other fstab lines alone", async () => {
    const rootfs = await image('fstab', { 'etc/fstab': FSTAB });
    expect(await relaxWorkDiskTimeout(rootfs)).toBe(true);
    expect(await readImageText(rootfs, '/etc/fstab')).toBe(FSTAB.replace('x-systemd.device-timeout=30s', 'x-systemd.device-timeout=5min'));
  });

  it('changes nothing in an image without a work-disk line', async () => {
    const rootfs = await image('nofstab', { 'etc/fstab': '/dev/vda / ext4 rw 0 1\n' });
    expect(await relaxWorkDiskTimeout(rootfs)).toBe(false);
    expect(await readImageText(rootfs, '/etc/fstab')).toBe('/dev/vda / ext4 rw 0 1\n');
  });
});
