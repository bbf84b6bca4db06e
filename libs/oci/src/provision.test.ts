import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile, symlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { cachedArtifact, prerequisites, testDebianMirror } from '@banger/host/testing';
import { ensureTestKernel } from '@banger/kernels/testing';
import { sha256, pushBlob, pushManifest, startRegistry, type TestRegistry } from './testing/index.js';
import { checkBootable, provisionCommand, writeGuestContract } from './provision.js';
import { pullOciImage } from './pull.js';

/** The README's Security section, written out here rather than imported from the code under test. */
const GUEST_SSHD_SECURITY = [
  'PermitRootLogin prohibit-password',
  'PubkeyAuthentication yes',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'AuthorizedKeysFile /root/.ssh/authorized_keys',
];
/** The first directives of an sshd_config (comments and blank lines left out); an Include would show up among them. */
const sshdDirectives = (config: string): string[] => config.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).slice(0, GUEST_SSHD_SECURITY.length);
import { bootAndSsh } from '../test/boot-smoke.js';

describe('writeGuestContract', () => {
  let root: string;
  let outside: string;
  beforeEach(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-oci-contract-'));
    root = join(dir, 'rootfs');
    outside = join(dir, 'outside');
    await mkdir(outside);
    await mkdir(join(root, 'etc/ssh'), { recursive: true });
    await mkdir(join(root, 'lib/systemd/system'), { recursive: true });
  });
  afterEach(async () => {
    await rm(join(root, '..'), { recursive: true, force: true });
  });

  it('writes sshd_config, fstab and the resolver unit, enables networkd and drops the image host keys', async () => {
    await writeFile(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'baked-in key');
    await writeFile(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'baked-in key');
    await writeFile(join(root, 'lib/systemd/system/systemd-networkd.service'), '[Unit]\n[Service]\n[Install]\nWantedBy=multi-user.target\nAlso=systemd-networkd.socket\n');
    await writeFile(join(root, 'lib/systemd/system/systemd-networkd.socket'), '[Socket]\n[Install]\nWantedBy=sockets.target\n');
    await writeGuestContract(root);
    expect(sshdDirectives(await readFile(join(root, 'etc/ssh/sshd_config'), 'utf8'))).toEqual(GUEST_SSHD_SECURITY);
    expect(await readdir(join(root, 'etc/ssh'))).toEqual(['sshd_config']);
    // No systemd binary in this tree: the work disk stays in fstab (OpenRC's localmount reads it).
    expect(await readFile(join(root, 'etc/fstab'), 'utf8')).toContain('LABEL=banger-work /root ext4 defaults,nofail 0 2');
    expect(await readlink(join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toBe('/lib/systemd/system/systemd-networkd.service');
    expect(await readlink(join(root, 'etc/systemd/system/sockets.target.wants/systemd-networkd.socket'))).toBe('/lib/systemd/system/systemd-networkd.socket');
    expect(await readlink(join(root, 'etc/systemd/system/systemd-networkd-wait-online.service'))).toBe('/dev/null');
    // eth0 from ip= by the one-shot; networkd and its socket skip once it has (a skipped service behind a live socket leaves the system degraded).
    expect(await readlink(join(root, 'etc/systemd/system/sysinit.target.wants/banger-network.service'))).toBe('/etc/systemd/system/banger-network.service');
    expect((await stat(join(root, 'usr/lib/banger/configure-network'))).mode & 0o777).toBe(0o755);
    for (const unit of ['systemd-networkd.service', 'systemd-networkd.socket']) {
      expect(await readFile(join(root, `etc/systemd/system/${unit}.d/banger.conf`), 'utf8')).toMatch(/^ConditionPathExists=!\/run\/banger-network-static$/m);
    }
    expect((await stat(join(root, 'root/.ssh'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'lib/modules'))).isDirectory()).toBe(true);
  });

  it('mounts the work disk with a unit, not fstab, in a systemd image, and masks modprobe@', async () => {
    await writeFile(join(root, 'lib/systemd/systemd'), '#!/bin/sh\n');
    await writeGuestContract(root);
    const fstab = await readFile(join(root, 'etc/fstab'), 'utf8');
    expect(fstab).toContain('/dev/vda / ext4');
    expect(fstab).not.toMatch(/^LABEL=banger-work/m);
    expect(await readFile(join(root, 'etc/systemd/system/banger-work-disk.service'), 'utf8')).toContain('ExecStart=/usr/lib/banger/mount-work-disk');
    expect(await readlink(join(root, 'etc/systemd/system/local-fs.target.wants/banger-work-disk.service'))).toBe('/etc/systemd/system/banger-work-disk.service');
    expect((await stat(join(root, 'usr/lib/banger/mount-work-disk'))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(root, 'etc/systemd/system/ssh.service.d/banger-work-disk.conf'), 'utf8')).toContain('Requires=banger-work-disk.service');
    expect(await readlink(join(root, 'etc/systemd/system/modprobe@.service'))).toBe('/dev/null');
  });

  it('replaces symlinks the image planted instead of writing through them to the host', async () => {
    await writeFile(join(outside, 'fstab'), 'host fstab\n');
    await symlink(join(outside, 'fstab'), join(root, 'etc/fstab'));
    await symlink(outside, join(root, 'root')); // /root -> a host directory
    await writeGuestContract(root);
    expect(await readFile(join(outside, 'fstab'), 'utf8')).toBe('host fstab\n');
    expect((await lstat(join(root, 'etc/fstab'))).isFile()).toBe(true);
    expect(await readdir(outside)).toEqual(['fstab']);
  });
});

describe('provisionCommand', () => {
  it('installs an init, udev, kmod, sshd and iproute2 with each family’s package manager', () => {
    expect(provisionCommand('debian')).toContain('apt-get install -y -q --no-install-recommends systemd systemd-sysv udev kmod openssh-server iproute2');
    expect(provisionCommand('fedora')).toMatch(/dnf -y -q install .*systemd .*openssh-server iproute/);
    expect(provisionCommand('alpine')).toMatch(/apk add --no-cache openrc .*openssh-server iproute2 kmod/);
  });
});

const needs = prerequisites(['mmdebstrap', 'docker-registry', 'zstd', 'unshare', 'mkfs.ext4', 'debugfs', 'qemu-system-x86_64', 'apt-get', 'dpkg-deb', 'depmod'], { root: true });

/**
 * A Debian minbase root tree as one tar, made by mmdebstrap and cached by its
 * recipe: the format is explicit (mmdebstrap otherwise guesses it from the
 * target's name, and a temp name without `.tar` made a directory).
 */
async function minbaseTarball(): Promise<string> {
  const args = ['--variant=minbase', '--mode=root', '--format=tar', '--quiet', 'bookworm'];
  const mirror = testDebianMirror();
  const dir = await cachedArtifact({
    kind: 'oci/debian-minbase',
    inputs: { tool: 'mmdebstrap', args, mirror },
    build: async (out) => {
      await run('mmdebstrap', [...args, join(out, 'rootfs.tar'), mirror], { timeoutMs: 15 * 60_000 });
    },
  });
  return join(dir, 'rootfs.tar');
}

/**
 * The real thing: a Debian minbase tree (mmdebstrap, cached under
 * ~/.cache/banger-test) pushed as a zstd layer, pulled, and provisioned with
 * apt inside the image from Debian's mirrors. Minutes, not seconds.
 */
describe.skipIf(needs.skip)(`provisioning a Debian image from a real registry${needs.skip ? ` (skipped: needs ${needs.missing.join(', ')})` : ''}`, () => {
  let dir: string;
  let registry: TestRegistry;
  let provisionedRootfs: string | undefined;
  beforeAll(async () => {
    needs.assert();
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-provision-'));
    registry = await startRegistry(join(dir, 'registry'));
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs systemd and openssh-server into a minbase Debian image and writes the guest contract', async () => {
    const tarball = await minbaseTarball();
    expect((await stat(tarball)).isFile()).toBe(true);
    const compressed = join(dir, 'layer.tar.zst');
    await run('zstd', ['-q', '-T0', '-3', '-f', tarball, '-o', compressed]);
    const layerBytes = await readFile(compressed);
    const diffId = sha256(await readFile(tarball));
    const layerDigest = await pushBlob(registry.host, 'banger/debian', layerBytes);
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const configDigest = await pushBlob(registry.host, 'banger/debian', config);
    await pushManifest(
      registry.host,
      'banger/debian',
      'bookworm',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', digest: layerDigest, size: layerBytes.length }],
      },
      'application/vnd.oci.image.manifest.v1+json',
    );

    const lines: string[] = [];
    const result = await pullOciImage({
      reference: `${registry.host}/banger/debian:bookworm`,
      cacheDir: join(dir, 'cache'),
      workDir: join(dir, 'work'),
      outRootfs: join(dir, 'images/debian.ext4'),
      dockerConfigPath: join(dir, 'none.json'),
      progress: { line: (l) => lines.push(l) },
    });
    expect(result.provisioned).toBe(true);
    expect(result.osRelease).toMatchObject({ id: 'debian', versionCodename: 'bookworm' });
    expect(lines.some((l) => /Setting up openssh-server/.test(l))).toBe(true);

    const dump = join(dir, 'dump');
    await mkdir(dump);
    await run('debugfs', ['-R', 'rdump / ' + dump, result.rootfsPath]);
    expect(await checkBootable(dump)).toEqual({ init: true, sshd: true });
    expect(await readlink(join(dump, 'sbin/init'))).toMatch(/systemd$/);
    expect(sshdDirectives(await readFile(join(dump, 'etc/ssh/sshd_config'), 'utf8'))).toEqual(GUEST_SSHD_SECURITY);
    expect((await readdir(join(dump, 'etc/ssh'))).filter((n) => n.startsWith('ssh_host_'))).toEqual([]);
    expect(await readlink(join(dump, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toMatch(/systemd-networkd\.service$/);
    expect(await stat(join(dump, 'usr/sbin/policy-rc.d')).catch(() => undefined)).toBeUndefined();
    expect(await readdir(join(dir, 'work'))).toEqual([]);
    provisionedRootfs = result.rootfsPath;
  }, 30 * 60_000);

  it(
    'boots the provisioned image under QEMU to a running system that answers ssh',
    async () => {
      if (!provisionedRootfs) throw new Error('the provisioning test did not produce a rootfs');
      const kernelDir = (await ensureTestKernel()).dir;
      const { stdout } = await bootAndSsh(
        provisionedRootfs,
        { vmlinux: join(kernelDir, 'vmlinux'), initrd: join(kernelDir, 'initrd.img'), modules: join(kernelDir, 'modules.ext4') },
        join(dir, 'boot'),
        'hostname; systemctl is-system-running --wait; findmnt -n -o SOURCE /root; ip -4 -o addr show eth0',
      );
      const [hostname, state, workDisk, addr] = stdout.trim().split('\n');
      expect(hostname).toBe('ocismoke');
      expect(state).toBe('running');
      expect(workDisk).toBe('/dev/vdb');
      expect(addr).toContain('inet 10.0.2.15/24');
    },
    10 * 60_000,
  );
});
