import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { Ext4Reader } from '../inspect/debugfs.js';
import { readManifest, ROOTFS_FILE, type ImageManifest } from '../manifest.js';
import { loadRecipe } from '../recipe/load-recipe.js';
import { ensureTestImage } from '../test-image.js';

const canBuild = Boolean(findExecutable('mmdebstrap')) && (process.getuid?.() === 0 || Boolean(findExecutable('sudo')));

// Slow (a few minutes cold): run with BANGER_SLOW_TESTS=1.
describe.skipIf(!canBuild)('the golden debian-bookworm image, built for real', () => {
  let image: Ext4Reader;
  let manifest: ImageManifest;

  beforeAll(async () => {
    const dir = await ensureTestImage(undefined, { line: (l) => process.stderr.write(`  build: ${l}\n`) }, 'debian-bookworm');
    image = new Ext4Reader(join(dir, ROOTFS_FILE));
    manifest = await readManifest(dir);
  }, 1_800_000);

  it.each([
    ['docker', '/usr/bin/docker'],
    ['dockerd', '/usr/sbin/dockerd'],
    ['containerd', '/usr/bin/containerd'],
    ['git', '/usr/bin/git'],
    ['jq', '/usr/bin/jq'],
    ['curl', '/usr/bin/curl'],
    ['make', '/usr/bin/make'],
    ['less', '/usr/bin/less'],
    ['vim.tiny', '/usr/bin/vim.tiny'],
    ['ps (procps)', '/usr/bin/ps'],
    ['ping', '/usr/bin/ping'],
    ['ip', '/sbin/ip'],
    ['sudo', '/usr/bin/sudo'],
    ['dbus-daemon', '/usr/bin/dbus-daemon'],
    ['sshd', '/usr/sbin/sshd'],
    ['udevadm', '/usr/bin/udevadm'],
    ['modprobe (kmod)', '/sbin/modprobe'],
    ['mise', '/usr/local/bin/mise'],
  ])('contains %s at %s', async (_tool, path) => {
    const found = await image.resolve(path);
    expect(found?.inode.type, path).toBe('regular');
    expect((found?.inode.mode ?? 0) & 0o111, path).not.toBe(0);
  });

  it('carries a mise binary that runs and reports the pinned version', async () => {
    const pinned = (await loadRecipe('debian-bookworm')).npm_binaries.find((b) => b.package === '@jdxcode/mise-linux-x64')!.version;
    const dir = mkdtempSync(join(tmpdir(), 'banger-mise-'));
    try {
      const mise = join(dir, 'mise');
      writeFileSync(mise, (await image.readFile('/usr/local/bin/mise'))!);
      chmodSync(mise, 0o755);
      const version = execFileSync(mise, ['--version'], { encoding: 'utf8', env: { ...process.env, MISE_DATA_DIR: dir, MISE_CACHE_DIR: dir, HOME: dir } });
      expect(version).toMatch(new RegExp(`^${pinned.replace(/\./g, '\\.')} linux-x64`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the guest contract: the Security section sshd config, no host keys, docker socket-activated', async () => {
    const config = (await image.readFile('/etc/ssh/sshd_config'))!.toString();
    // The Security section of the README, written out here rather than imported from the code under test.
    expect(config.split('\n').filter((l) => l.trim() && !l.startsWith('#')).slice(0, 5)).toEqual([
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AuthorizedKeysFile /root/.ssh/authorized_keys',
    ]);
    expect(((await image.readdir('/etc/ssh')) ?? []).filter((n) => n.startsWith('ssh_host_'))).toEqual([]);
    // docker starts on its first client (docker.socket), not at boot: dockerd and containerd cost a TCG boot ≈ 35 s.
    expect((await image.lstat('/etc/systemd/system/sockets.target.wants/docker.socket'))?.type).toBe('symlink');
    expect(await image.lstat('/etc/systemd/system/multi-user.target.wants/docker.service')).toBeUndefined();
    expect(await image.lstat('/etc/systemd/system/multi-user.target.wants/containerd.service')).toBeUndefined();
    expect((await image.resolve('/usr/lib/locale/locale-archive'))?.inode.type).toBe('regular');
    expect((await image.readFile('/etc/profile.d/banger-mise.sh'))?.toString()).toContain('mise activate bash');
  });

  it('lists every installed package in its manifest', () => {
    for (const name of ['docker.io', 'git', 'jq', 'curl', 'make', 'sudo', 'dbus', 'udev', 'kmod', 'openssh-server', 'locales', 'tzdata']) {
      expect(manifest.packages.some((p) => p.startsWith(`${name}=`)), name).toBe(true);
    }
  });
});
