// Test-local stand-ins for the guest lib's provisioning (host key, work disk),
// kept minimal and independent so this suite tests the drivers and the
// network, not the provisioning code.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '@banger/host';

export interface KeyPair {
  privatePath: string;
  publicLine: string;
}

/** A fresh ed25519 key pair (`ssh-keygen`), for the ssh client or a guest's sshd. */
export async function makeKeyPair(path: string, comment: string): Promise<KeyPair> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return { privatePath: path, publicLine: (await readFile(`${path}.pub`, 'utf8')).trim() };
}

/** Writes the sshd host key into an unmounted rootfs image with `debugfs -w` (no mount, no root needed). */
export async function installHostKey(rootfs: string, key: KeyPair): Promise<void> {
  const target = '/etc/ssh/ssh_host_ed25519_key';
  const script = [
    `rm ${target}`,
    `rm ${target}.pub`,
    `write ${key.privatePath} ${target}`,
    `write ${key.privatePath}.pub ${target}.pub`,
    `sif ${target} mode 0100600`,
    `sif ${target}.pub mode 0100644`,
    ...[target, `${target}.pub`].flatMap((f) => [`sif ${f} uid 0`, `sif ${f} gid 0`]),
  ].join('\n');
  await run('debugfs', ['-w', '-f', '-', rootfs], { input: `${script}\n` });
  const check = await run('debugfs', ['-R', `stat ${target}`, rootfs]);
  if (!/Mode:\s+0600/.test(check.stdout)) throw new Error(`host key not installed in ${rootfs}: ${check.stdout.slice(0, 200)}`);
}

/**
 * The work disk (vdb, label banger-work, mounted at /root by the image's
 * fstab) holding root's authorized_keys, modes as sshd's StrictModes wants.
 */
export async function makeWorkDisk(path: string, staging: string, authorizedKey: string): Promise<void> {
  await mkdir(join(staging, '.ssh'), { recursive: true });
  await chmod(staging, 0o700);
  await chmod(join(staging, '.ssh'), 0o700);
  await writeFile(join(staging, '.ssh', 'authorized_keys'), `${authorizedKey}\n`, { mode: 0o600 });
  await run('mkfs.ext4', ['-q', '-F', '-d', staging, '-L', 'banger-work', '-E', 'root_owner=0:0', path, '64M']);
}

/** A sparse (or reflinked) copy of the image's rootfs, as each VM gets its own writable disk. */
export async function copyRootfs(from: string, to: string): Promise<void> {
  await run('cp', ['--sparse=always', '--reflink=auto', from, to]);
}
