import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, sha256File } from '@banger/host';
import { Ext4Reader } from '../inspect/debugfs.js';
import { readManifest, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from '../manifest.js';
import { defaultTestCacheDir, ensureTestImage } from '../test-image.js';
import { buildImage } from './build-image.js';

const canBuild = Boolean(findExecutable('mmdebstrap')) && (process.getuid?.() === 0 || Boolean(findExecutable('sudo')));

describe.skipIf(!canBuild)('a real debian-minimal build (mmdebstrap; cached under ~/.cache/banger-test/images)', () => {
  let dir: string;
  let rootfs: string;
  let image: Ext4Reader;
  let manifest: ImageManifest;
  const text = async (path: string): Promise<string> => (await image.readFile(path))?.toString('utf8') ?? '<missing>';

  beforeAll(async () => {
    dir = await ensureTestImage(undefined, { line: (l) => process.stderr.write(`  build: ${l}\n`) });
    rootfs = join(dir, ROOTFS_FILE);
    image = new Ext4Reader(rootfs);
    manifest = await readManifest(dir);
  }, 1_200_000);

  it('configures sshd exactly as the Security section says, first and with no includes', async () => {
    const config = await text('/etc/ssh/sshd_config');
    const directives = config.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(directives.slice(0, 5)).toEqual([
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AuthorizedKeysFile /root/.ssh/authorized_keys',
    ]);
    expect(config).not.toMatch(/^\s*(Include|StrictModes|PermitEmptyPasswords|ChallengeResponseAuthentication)\b/im);
    // Each directive once: a second PermitRootLogin further down would be ignored by sshd but confuse readers.
    const keys = directives.map((l) => l.split(/\s+/)[0]);
    expect(new Set(keys).size).toBe(keys.length);
    expect(await image.readdir('/etc/ssh/sshd_config.d')).toBeUndefined();
  });

  it('ships no ssh host keys', async () => {
    const names = (await image.readdir('/etc/ssh')) ?? [];
    expect(names).toContain('sshd_config');
    expect(names.filter((n) => n.startsWith('ssh_host_'))).toEqual([]);
  });

  it('mounts vda as / from fstab and the work disk on /root from a unit that waits for no udev symlink', async () => {
    const lines = (await text('/etc/fstab')).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['/dev/vda / ext4 rw,relatime 0 1']);
    expect((await image.lstat('/etc/systemd/system/local-fs.target.wants/banger-work-disk.service'))?.type).toBe('symlink');
    const unit = await text('/etc/systemd/system/banger-work-disk.service');
    expect(unit).toContain('ExecStart=/usr/lib/banger/mount-work-disk');
    expect(unit).toContain('Before=local-fs.target');
    expect((await image.resolve('/usr/lib/banger/mount-work-disk'))?.inode.mode).toBe(0o755);
    expect(await text('/usr/lib/banger/mount-work-disk')).toContain('/dev/vdb');
    // sshd waits for it: root's authorized_keys are on the work disk.
    expect(await text('/etc/systemd/system/ssh.service.d/banger-work-disk.conf')).toMatch(/^Requires=banger-work-disk\.service$/m);
    expect(await text('/etc/systemd/journald.conf.d/banger.conf')).toMatch(/^Storage=volatile$/m);
  });

  it('enables networkd, the ip= network generator and the resolv.conf one-shot', async () => {
    expect((await image.lstat('/etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))?.linkTarget).toBe('/lib/systemd/system/systemd-networkd.service');
    expect((await image.lstat('/etc/systemd/system/sysinit.target.wants/systemd-network-generator.service'))?.type).toBe('symlink');
    expect((await image.lstat('/etc/systemd/system/sysinit.target.wants/banger-resolv.service'))?.type).toBe('symlink');
    expect(await text('/etc/systemd/system/banger-resolv.service')).toContain('ExecStart=/usr/lib/banger/write-resolv-conf');
    expect((await image.resolve('/usr/lib/banger/write-resolv-conf'))?.inode.mode).toBe(0o755);
  });

  it('masks wait-online, the apt timers, e2scrub, the gettys and what serves nothing in a microVM', async () => {
    const masked = [
      'systemd-networkd-wait-online.service',
      'apt-daily.service',
      'apt-daily.timer',
      'apt-daily-upgrade.service',
      'apt-daily-upgrade.timer',
      'e2scrub_all.service',
      'e2scrub_all.timer',
      'e2scrub_reap.service',
      'getty@tty1.service',
      'serial-getty@ttyS0.service',
      'getty-static.service',
      'modprobe@.service',
      'systemd-pstore.service',
      'sys-kernel-debug.mount',
      'sys-kernel-tracing.mount',
      'sys-kernel-config.mount',
      'sys-fs-fuse-connections.mount',
      'dev-hugepages.mount',
    ];
    for (const unit of masked) {
      expect((await image.lstat(`/etc/systemd/system/${unit}`))?.linkTarget, unit).toBe('/dev/null');
    }
  });

  it('leaves machine-id empty, a placeholder resolv.conf, and /lib/modules ready for the modules disk', async () => {
    expect((await image.resolve('/etc/machine-id'))?.inode.size).toBe(0);
    expect(await text('/etc/resolv.conf')).not.toContain('nameserver');
    expect((await image.resolve('/lib/modules'))?.inode.type).toBe('directory');
    expect((await image.resolve('/sbin/init'))?.path).toMatch(/^(\/usr)?\/lib\/systemd\/systemd$/);
    expect((await image.resolve('/usr/sbin/sshd'))?.inode.type).toBe('regular');
    expect((await image.resolve('/usr/sbin/modprobe'))?.inode.type).toBe('regular');
  });

  it('owns every file it wrote by root, /root included, and keeps /root private', async () => {
    for (const path of ['/', '/etc', '/etc/ssh/sshd_config', '/etc/fstab', '/usr/bin/bash', '/root', '/root/.ssh', '/var/lib/dpkg/status']) {
      const inode = (await image.resolve(path))?.inode;
      expect(inode, path).toBeDefined();
      expect([inode?.uid, inode?.gid], path).toEqual([0, 0]);
    }
    expect(((await image.lstat('/root'))?.mode ?? 0) & 0o777).toBe(0o700);
    expect(((await image.lstat('/root/.ssh'))?.mode ?? 0) & 0o777).toBe(0o700);
  });

  it('exports the /root skeleton as root-owned root-skel.tar', () => {
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, ROOT_SKEL_FILE)], { encoding: 'utf8' });
    expect(listing).toMatch(/ 0\/0 .* \.\/\.bashrc$/m);
    expect(listing).toMatch(/^drwx------ 0\/0 .* \.\/\.ssh\/$/m);
  });

  it('drops the downloaded packages and apt lists from the image', async () => {
    expect(((await image.readdir('/var/cache/apt/archives')) ?? []).filter((n) => n.endsWith('.deb'))).toEqual([]);
    expect(((await image.readdir('/var/lib/apt/lists')) ?? []).filter((n) => n !== 'partial' && n !== 'lock')).toEqual([]);
  });

  it('is a clean, sparse ext4 labelled banger-root whose manifest matches the file', async () => {
    execFileSync('e2fsck', ['-fn', rootfs], { stdio: 'pipe' });
    expect(execFileSync('dumpe2fs', ['-h', rootfs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Filesystem volume name:\s+banger-root/);
    const info = statSync(rootfs);
    expect(info.blocks * 512).toBeLessThan(info.size);
    expect(manifest).toMatchObject({ name: 'debian-minimal', defaultKernel: 'debian-cloud', sizeBytes: info.size });
    expect(manifest.files[ROOTFS_FILE]).toEqual({ sha256: await sha256File(rootfs), size: info.size });
    expect(manifest.packages).toEqual(expect.arrayContaining([expect.stringMatching(/^openssh-server=/), expect.stringMatching(/^udev=/), expect.stringMatching(/^kmod=/)]));
  });

  it('treats a rebuild of an unchanged recipe as a no-op', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const started = Date.now();
    const again = await buildImage({ recipeName: 'debian-minimal', outDir: dir, cacheDir: join(defaultTestCacheDir(), 'build-cache'), progress: { line: (l) => lines.push(l) } });
    expect(again).toEqual(manifest);
    expect(lines.join('\n')).toMatch(/up to date/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
