import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { findExecutable, readImageFile, run, statInode } from '@banger/host';
import { generateHostKey } from '@banger/ssh';
import { installHostKey } from './install-host-key.js';
import { stageWorkDisk } from './stage-work-disk.js';
import { makeWorkDisk } from './make-work-disk.js';

const noTools = !findExecutable('mkfs.ext4') || !findExecutable('debugfs') ? 'e2fsprogs (mkfs.ext4, debugfs) is not installed' : undefined;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample banger';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-disk-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(noTools)('installHostKey', () => {
  it('writes the host key pair into an unmounted ext4 rootfs with root ownership and sshd modes', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'etc', 'ssh'), { recursive: true });
    await writeFile(join(tree, 'etc', 'ssh', 'ssh_host_ed25519_key'), 'stale key from the image\n');
    await chown(join(tree, 'etc', 'ssh', 'ssh_host_ed25519_key'), 1000, 1000);
    const image = join(dir, 'rootfs.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-d', tree, image, '8M']);
    const key = generateHostKey('sandbox');

    await installHostKey(image, key);

    const priv = await statInode(image, '/etc/ssh/ssh_host_ed25519_key');
    const pub = await statInode(image, '/etc/ssh/ssh_host_ed25519_key.pub');
    expect(priv).toMatchObject({ type: 'regular', mode: 0o600, uid: 0, gid: 0 });
    expect(pub).toMatchObject({ type: 'regular', mode: 0o644, uid: 0, gid: 0 });
    expect((await readImageFile(image, '/etc/ssh/ssh_host_ed25519_key')).toString()).toBe(`${key.privateKey.trimEnd()}\n`);
    expect((await readImageFile(image, '/etc/ssh/ssh_host_ed25519_key.pub')).toString()).toBe(`${key.publicKey}\n`);
    const fsck = await run('e2fsck', ['-fn', image], { allowFailure: true });
    expect(fsck.exitCode).toBe(0);
    // The key's staging files lived beside the image (never in the shared /tmp) and are gone.
    expect((await readdir(dir)).sort()).toEqual(['rootfs.ext4', 'tree']);
  });

  it('creates /etc/ssh when the image has none', async () => {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const image = join(dir, 'rootfs.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-d', tree, image, '8M']);
    await installHostKey(image, generateHostKey('bare'));
    expect(await statInode(image, '/etc/ssh')).toMatchObject({ type: 'directory', uid: 0 });
  });

  it('fails with an error naming the image when it is not ext4', async () => {
    const image = join(dir, 'not-ext4.img');
    await writeFile(image, Buffer.alloc(1024 * 1024));
    await expect(installHostKey(image, generateHostKey('x'))).rejects.toThrow(image);
  });
});

describe('stageWorkDisk', () => {
  it('stages the skeleton, authorized_keys and file_sync entries with the modes sshd and the user expect', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.aws', 'sso'), { recursive: true });
    await writeFile(join(home, '.aws', 'config'), '[default]\n', { mode: 0o644 });
    await writeFile(join(home, '.aws', 'sso', 'token'), 'tok', { mode: 0o600 });
    await mkdir(join(home, 'bin'));
    await writeFile(join(home, 'bin', 'my-script'), '#!/bin/sh\necho hi\n', { mode: 0o644 });
    await writeFile(join(home, 'hosts.yml'), 'github.com: {}\n', { mode: 0o644 });
    await symlink(join(home, 'hosts.yml'), join(home, 'hosts-link.yml'));
    const skeleton = join(dir, 'skel');
    await mkdir(skeleton);
    await writeFile(join(skeleton, '.bashrc'), 'PS1=x\n', { mode: 0o644 });
    const staging = join(dir, 'staging');

    await stageWorkDisk({
      stagingDir: staging,
      authorizedKeys: KEY,
      skeletonDir: skeleton,
      hostHome: home,
      fileSync: [
        { host: '~/.aws', guest: '~/.aws' },
        { host: '~/hosts-link.yml', guest: '~/.config/gh/hosts.yml' },
        { host: join(home, 'bin', 'my-script'), guest: '/root/bin/my-script', mode: '0755' },
      ],
    });

    const mode = async (p: string) => (await stat(join(staging, p))).mode & 0o7777;
    expect(await mode('.')).toBe(0o700);
    expect(await mode('.ssh')).toBe(0o700);
    expect(await mode('.ssh/authorized_keys')).toBe(0o600);
    expect(await readFile(join(staging, '.ssh', 'authorized_keys'), 'utf8')).toBe(`${KEY}\n`);
    expect(await readFile(join(staging, '.bashrc'), 'utf8')).toBe('PS1=x\n');
    expect(await mode('.aws/config')).toBe(0o644);
    expect(await mode('.aws/sso/token')).toBe(0o600);
    expect(await readFile(join(staging, '.config', 'gh', 'hosts.yml'), 'utf8')).toBe('github.com: {}\n');
    expect(await mode('.config/gh/hosts.yml')).toBe(0o600);
    expect(await mode('.config')).toBe(0o700);
    expect(await mode('bin/my-script')).toBe(0o755);
  });

  it('keeps the user\'s own authorized_keys lines and adds banger\'s key once', async () => {
    const home = join(dir, 'home');
    await mkdir(home);
    await writeFile(join(home, 'keys'), 'ssh-ed25519 AAAAother me@laptop\n');
    const staging = join(dir, 'staging');
    await stageWorkDisk({ stagingDir: staging, authorizedKeys: KEY, hostHome: home, fileSync: [{ host: '~/keys', guest: '~/.ssh/authorized_keys', mode: '0644' }] });
    expect(await readFile(join(staging, '.ssh', 'authorized_keys'), 'utf8')).toBe(`ssh-ed25519 AAAAother me@laptop\n${KEY}\n`);
    expect((await stat(join(staging, '.ssh', 'authorized_keys'))).mode & 0o777).toBe(0o600);
  });

  it('rejects a guest path outside /root, naming the entry', async () => {
    const error = (await stageWorkDisk({
      stagingDir: join(dir, 's'),
      authorizedKeys: KEY,
      fileSync: [{ host: dir, guest: '/etc/passwd' }],
    }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`file_sync[0] (host = ${JSON.stringify(dir)}, guest = "/etc/passwd"): guest path must be under /root (~/…), got "/etc/passwd"`);
    await expect(stageWorkDisk({ stagingDir: join(dir, 's'), authorizedKeys: KEY, fileSync: [{ host: dir, guest: '~/../etc' }] })).rejects.toThrow(
      /guest path must be under \/root/,
    );
    await expect(stageWorkDisk({ stagingDir: join(dir, 's'), authorizedKeys: KEY, fileSync: [{ host: dir, guest: 'relative/x' }] })).rejects.toThrow(
      /guest path must be under \/root/,
    );
  });

  it('rejects a missing host path, naming it', async () => {
    const home = join(dir, 'home');
    const error = (await stageWorkDisk({
      stagingDir: join(dir, 's'),
      authorizedKeys: KEY,
      hostHome: home,
      fileSync: [{ host: '~/.aws', guest: '~/.aws' }],
    }).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`file_sync[0] (host = "~/.aws", guest = "~/.aws"): host path ${join(home, '.aws')} does not exist`);
  });

  it('rejects a mode that is not octal, naming the entry', async () => {
    await expect(
      stageWorkDisk({ stagingDir: join(dir, 's'), authorizedKeys: KEY, fileSync: [{ host: dir, guest: '~/x', mode: '755x' }] }),
    ).rejects.toThrow('file_sync[0] (host = ' + JSON.stringify(dir) + ', guest = "~/x"): mode "755x" is not an octal permission');
  });
});

describe.skipIf(noTools)('makeWorkDisk', () => {
  it('builds an ext4 labelled banger-work whose files are root\'s with the staged modes and content', async () => {
    const staging = join(dir, 'staging');
    await stageWorkDisk({ stagingDir: staging, authorizedKeys: KEY });
    await mkdir(join(staging, 'bin'), { mode: 0o755 });
    await writeFile(join(staging, 'bin', 'tool'), 'echo tool\n');
    await chmod(join(staging, 'bin', 'tool'), 0o755);
    // As if staged by an unprivileged daemon: the image must still be root's.
    await chown(join(staging, 'bin'), 1000, 1000);
    await chown(join(staging, 'bin', 'tool'), 1000, 1000);
    await chown(join(staging, '.ssh', 'authorized_keys'), 1000, 1000);
    const image = join(dir, 'work.ext4');

    await makeWorkDisk(staging, image, 64 * 1024 * 1024);

    expect((await stat(image)).size).toBe(64 * 1024 * 1024);
    expect((await run('e2label', [image])).stdout.trim()).toBe('banger-work');
    expect(await statInode(image, '/')).toMatchObject({ type: 'directory', mode: 0o700, uid: 0, gid: 0 });
    expect(await statInode(image, '/.ssh')).toMatchObject({ type: 'directory', mode: 0o700, uid: 0, gid: 0 });
    expect(await statInode(image, '/.ssh/authorized_keys')).toMatchObject({ type: 'regular', mode: 0o600, uid: 0, gid: 0 });
    expect(await statInode(image, '/bin/tool')).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
    expect(await statInode(image, '/bin')).toMatchObject({ uid: 0, gid: 0 });
    expect((await readImageFile(image, '/.ssh/authorized_keys')).toString()).toBe(`${KEY}\n`);
    expect((await run('e2fsck', ['-fn', image], { allowFailure: true })).exitCode).toBe(0);
  });

  it('leaves no partial image behind when the files do not fit', async () => {
    const staging = join(dir, 'staging');
    await mkdir(staging);
    await writeFile(join(staging, 'big'), Buffer.alloc(4 * 1024 * 1024, 1));
    const image = join(dir, 'work.ext4');
    await expect(makeWorkDisk(staging, image, 2 * 1024 * 1024)).rejects.toThrow(`work disk ${image}`);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).sort()).toEqual(['staging']);
  });
});
