import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTscKhz, run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { ensureTestKernel } from '@banger/kernels/testing';
import { ROOT_SKEL_FILE, ROOTFS_FILE } from '../manifest.js';
import { ensureTestImage } from '../test-image.js';

// Boots the debian-minimal image under QEMU (TCG) with the kernel bundle the
// kernels lib builds, the way the VM layer will: per-VM host key written with
// debugfs, a work disk seeded from root-skel.tar, the modules disk on vdc.
// Slow (a minute or more): run with BANGER_SLOW_TESTS=1. Networking is QEMU
// user-mode (restrict=on) inside a netns this test creates and deletes.
// The kernel bundle is built here when no earlier test made it (nx does not order test tasks
// across projects); a missing tool skips locally and fails under CI.
const needs = prerequisites(['qemu-system-x86_64', 'ssh', 'ssh-keygen', 'debugfs', 'mkfs.ext4', 'ip', 'mmdebstrap', 'apt-get', 'dpkg-deb', 'depmod'], { root: true });

describe.skipIf(needs.skip).each(['debian-minimal', 'debian-bookworm'])('a %s VM booted from the built image', (recipeName) => {
  const work = mkdtempSync(join(tmpdir(), 'banger-boot-'));
  const netns = `banger-test-${randomBytes(3).toString('hex')}`;
  let qemu: ChildProcess | undefined;
  const ssh = (command: string, extra: string[] = []) =>
    run('ip', ['netns', 'exec', netns, 'ssh', '-i', join(work, 'user'), '-p', '2222', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5',
      '-o', `UserKnownHostsFile=${join(work, 'known_hosts')}`, '-o', 'StrictHostKeyChecking=yes', ...extra, 'root@127.0.0.1', command], { allowFailure: true, timeoutMs: 240_000 });

  let kernelDir = '';
  beforeAll(async () => {
    needs.assert();
    kernelDir = (await ensureTestKernel()).dir;
    const image = await ensureTestImage(undefined, undefined, recipeName);
    const rootfs = join(work, 'root.ext4');
    await run('cp', ['--sparse=always', join(image, ROOTFS_FILE), rootfs]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'host', '-f', join(work, 'host')]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'user', '-f', join(work, 'user')]);
    for (const request of [
      `write ${join(work, 'host')} /etc/ssh/ssh_host_ed25519_key`,
      `write ${join(work, 'host.pub')} /etc/ssh/ssh_host_ed25519_key.pub`,
      'sif /etc/ssh/ssh_host_ed25519_key mode 0100600',
    ]) {
      await run('debugfs', ['-w', '-R', request, rootfs]);
    }
    writeFileSync(join(work, 'known_hosts'), `[127.0.0.1]:2222 ${readFileSync(join(work, 'host.pub'), 'utf8')}`);
    const skel = join(work, 'skel');
    mkdirSync(skel);
    await run('tar', ['-C', skel, '-xf', join(image, ROOT_SKEL_FILE)]);
    copyFileSync(join(work, 'user.pub'), join(skel, '.ssh/authorized_keys'));
    chmodSync(join(skel, '.ssh/authorized_keys'), 0o600);
    await run('mkfs.ext4', ['-q', '-F', '-L', 'banger-work', '-E', 'root_owner=0:0', '-d', skel, join(work, 'work.ext4'), '256M']);

    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const tsc = hostTscKhz();
    qemu = spawn('ip', ['netns', 'exec', netns, 'qemu-system-x86_64', '-M', 'microvm', '-accel', 'tcg', '-cpu', 'max', '-m', '1024', '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-serial', `file:${join(work, 'console.log')}`, '-no-reboot',
      '-kernel', join(kernelDir, 'vmlinux'), '-initrd', join(kernelDir, 'initrd.img'),
      '-append', `console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0 ip=10.0.2.15::10.0.2.2:255.255.255.0:sandbox:eth0:off:10.0.2.3 systemd.hostname=sandbox banger.modules=/dev/vdc${tsc ? ` tsc_early_khz=${tsc} tsc=reliable` : ''}`,
      '-drive', `id=root,file=${rootfs},format=raw,if=none`, '-device', 'virtio-blk-device,drive=root',
      '-drive', `id=work,file=${join(work, 'work.ext4')},format=raw,if=none`, '-device', 'virtio-blk-device,drive=work',
      '-drive', `id=mods,file=${join(kernelDir, 'modules.ext4')},format=raw,if=none,readonly=on`, '-device', 'virtio-blk-device,drive=mods',
      '-netdev', 'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22', '-device', 'virtio-net-device,netdev=n0'], { stdio: 'ignore' });
    const deadline = Date.now() + 300_000;
    let last = '';
    while (Date.now() < deadline) {
      const attempt = await ssh('true');
      if (attempt.exitCode === 0) return;
      last = attempt.stderr.trim();
      if (qemu.exitCode !== null) break;
      await sleep(1000);
    }
    throw new Error(`no ssh within 300 s (last ssh error: ${last}); console tail:\n${readFileSync(join(work, 'console.log'), 'utf8').split('\n').slice(-20).join('\n')}`);
  }, 900_000);

  afterAll(async () => {
    qemu?.kill('SIGKILL');
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
    rmSync(work, { recursive: true, force: true });
  });

  it('lets root in with the key on the work disk and pins the host key written before boot', async () => {
    expect((await ssh('id -un')).stdout).toBe('root\n');
  });

  it('refuses password and keyboard-interactive logins', async () => {
    const attempt = await ssh('true', ['-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'PubkeyAuthentication=no']);
    expect(attempt.exitCode).toBe(255);
    expect(attempt.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('configures eth0, the hostname and resolv.conf from the kernel command line', async () => {
    const out = (await ssh('ip -4 -o addr show eth0; hostname; grep nameserver /etc/resolv.conf; grep 127.0.1.1 /etc/hosts')).stdout;
    expect(out).toMatch(/eth0\s+inet 10\.0\.2\.15\/24/);
    expect(out).toContain('\nsandbox\nnameserver 10.0.2.3\n127.0.1.1 sandbox\n');
  });

  it('mounts the work disk on /root and the modules disk on /lib/modules, and reaches a running system', async () => {
    const out = (await ssh('findmnt -n -o SOURCE /root; findmnt -n -o SOURCE /lib/modules; systemctl is-system-running --wait; test -s /etc/machine-id && echo has-machine-id')).stdout;
    expect(out).toBe('/dev/vdb\n/dev/vdc\nrunning\nhas-machine-id\n');
    // Under TCG on a loaded 2-core host the golden image (docker, containerd) takes minutes to settle.
  }, 300_000);

  // Only the golden image carries docker and mise: the test exists for it alone (not a skip for the minimal one).
  if (recipeName === 'debian-bookworm') {
    it('runs docker (with kernel modules from the modules disk) and mise in the guest', async () => {
      const docker = await ssh("docker info --format '{{.ServerVersion}} {{.Driver}} {{.CgroupVersion}}'");
      expect(docker.stderr).toBe('');
      expect(docker.stdout).toMatch(/^\d+\.\d+\.\d+\S* overlay2 2\n$/);
      expect((await ssh('bash -lc "mise --version"')).stdout).toMatch(/^\d{4}\.\d+\.\d+ linux-x64/);
    }, 300_000);
  }
});
