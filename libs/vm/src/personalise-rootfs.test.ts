import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statInode } from '@banger/disks';
import { run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { generateHostKey } from '@banger/ssh';
import { readImageText } from './image-files.js';
import { personaliseRootfs, probeRootfsOnce } from './personalise-rootfs.js';

const tools = prerequisites(['debugfs', 'mkfs.ext4', 'e2fsck']);
const dir = mkdtempSync(join(tmpdir(), 'banger-persona-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real ext4 image holding `files` (mkfs.ext4 -d, no mount); each in its own directory, as a VM's rootfs is. */
async function image(name: string, files: Record<string, string>, dirs: string[] = []): Promise<string> {
  const tree = join(dir, `${name}-tree`);
  mkdirSync(tree, { recursive: true });
  for (const d of dirs) mkdirSync(join(tree, d), { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(tree, path)), { recursive: true });
    writeFileSync(join(tree, path), content);
  }
  const home = join(dir, name);
  mkdirSync(home);
  const file = join(home, 'rootfs.ext4');
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, file, '16M']);
  return file;
}

const FSTAB = ['/dev/vda / ext4 rw,relatime 0 1', 'LABEL=banger-work /root ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2', ''].join('\n');

describe.skipIf(tools.skip)(`making a rootfs copy a VM's own in one pass (personaliseRootfs)${tools.skip ? ` (missing: ${tools.missing.join(', ')})` : ''}`, () => {
  beforeAll(() => tools.assert());
  it('writes the host key, hostname, machine-id and agent unit, root-owned with their modes, and leaves no scratch files', async () => {
    const rootfs = await image('lean', { 'etc/hostname': 'image\n', 'etc/machine-id': '', 'etc/systemd/system/banger-work-disk.service': '[Unit]\n', 'etc/ssh/sshd_config': '' });
    const hostKey = generateHostKey('sandbox');
    const result = await personaliseRootfs(rootfs, { hostname: 'sandbox', hostKey, agentUnit: true });
    expect(result.workDisk).toBe('unit');
    expect(result.agentUnit).toBe(true);
    expect(result.machineId).toMatch(/^[0-9a-f]{32}$/);
    expect(await readImageText(rootfs, '/etc/hostname')).toBe('sandbox\n');
    expect(await readImageText(rootfs, '/etc/machine-id')).toBe(`${result.machineId}\n`);
    expect(await readImageText(rootfs, '/etc/ssh/ssh_host_ed25519_key.pub')).toBe(`${hostKey.publicKey.trimEnd()}\n`);
    expect(await statInode(rootfs, '/etc/ssh/ssh_host_ed25519_key')).toMatchObject({ type: 'regular', mode: 0o600, uid: 0, gid: 0 });
    expect(await statInode(rootfs, '/etc/machine-id')).toMatchObject({ mode: 0o444, uid: 0, gid: 0 });
    const unit = await readImageText(rootfs, '/etc/systemd/system/banger-agent.service');
    expect(unit).toContain('ExecStart=/run/banger/runtime/bin/banger-vsock-agent --auto');
    expect(await statInode(rootfs, '/etc/systemd/system/sysinit.target.wants/banger-agent.service')).toMatchObject({ type: 'symlink', linkTarget: '/etc/systemd/system/banger-agent.service' });
    // The private key's staging copy sat beside the image: nothing of it is left.
    expect(readdirSync(dirname(rootfs))).toEqual(['rootfs.ext4']);
    // The fsck of a file system debugfs wrote must be clean.
    expect((await run('e2fsck', ['-fn', rootfs], { allowFailure: true })).exitCode).toBe(0);
  });

  it('makes an older image\'s work-disk fstab line patient, and skips the agent unit in an image without systemd', async () => {
    const rootfs = await image('old', { 'etc/fstab': FSTAB, 'etc/hostname': 'x\n' });
    const result = await personaliseRootfs(rootfs, { hostname: 'old', hostKey: generateHostKey('old'), agentUnit: true });
    expect(result).toMatchObject({ workDisk: 'fstab', agentUnit: false });
    expect(await readImageText(rootfs, '/etc/fstab')).toBe(FSTAB.replace('x-systemd.device-timeout=30s', 'x-systemd.device-timeout=5min'));
    expect(await statInode(rootfs, '/etc/systemd/system')).toBeUndefined();
  });

  it("personalises a copy with its source's probe (read once per source file), with the same result as probing the copy", async () => {
    const source = await image('src', { 'etc/fstab': FSTAB, 'etc/hostname': 'x\n' }, ['etc/systemd/system']);
    const scratchDir = mkdtempSync(join(dir, 'scratch-'));
    const probe = await probeRootfsOnce(source, { scratchDir });
    expect(probe).toMatchObject({ fstab: FSTAB, hasWorkUnit: false, hasSystemd: true });
    // The same file again: the remembered answer; a changed file (new mtime): asked anew.
    expect(await probeRootfsOnce(source, { scratchDir })).toBe(probe);
    utimesSync(source, new Date(), new Date(Date.now() + 5_000));
    expect(await probeRootfsOnce(source, { scratchDir })).not.toBe(probe);
    expect(readdirSync(scratchDir)).toEqual([]);

    const copy = join(dirname(source), 'copy.ext4');
    copyFileSync(source, copy);
    const result = await personaliseRootfs(copy, { hostname: 'copied', hostKey: generateHostKey('copied'), agentUnit: true }, { probe });
    expect(result).toMatchObject({ workDisk: 'fstab', agentUnit: true });
    expect(await readImageText(copy, '/etc/hostname')).toBe('copied\n');
    expect(await readImageText(copy, '/etc/fstab')).toBe(FSTAB.replace('x-systemd.device-timeout=30s', 'x-systemd.device-timeout=5min'));
    expect(await statInode(copy, '/etc/systemd/system/sysinit.target.wants/banger-agent.service')).toMatchObject({ type: 'symlink' });
    expect((await run('e2fsck', ['-fn', copy], { allowFailure: true })).exitCode).toBe(0);
  });

  it('says when the image mounts no work disk at all', async () => {
    const rootfs = await image('bare', { 'etc/fstab': '/dev/vda / ext4 rw 0 1\n' }, ['etc/systemd/system']);
    const result = await personaliseRootfs(rootfs, { hostname: 'bare', hostKey: generateHostKey('bare'), agentUnit: false });
    expect(result).toMatchObject({ workDisk: 'none', agentUnit: false });
    expect(await readImageText(rootfs, '/etc/fstab')).toBe('/dev/vda / ext4 rw 0 1\n');
    expect(await statInode(rootfs, '/etc/systemd/system/banger-agent.service')).toBeUndefined();
  });

  it('fails naming the file when the image has no room for it', async () => {
    const rootfs = await image('full', { 'etc/hostname': 'x\n' });
    // Fill the file system: debugfs then cannot write, yet exits 0.
    const filler = join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(15 * 2 ** 20, 1));
    await run('debugfs', ['-w', '-R', `write ${filler} /filler`, rootfs], { allowFailure: true });
    await expect(personaliseRootfs(rootfs, { hostname: 'full', hostKey: generateHostKey('full'), agentUnit: false })).rejects.toThrow(/ssh_host_ed25519_key|\/etc\//);
  });
});
