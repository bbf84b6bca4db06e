import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InternalError } from '@banger/errors';
import { debugfsQuote, readImageFile, runDebugfs, statInode } from '@banger/host';
import type { HostKey } from '@banger/ssh';

/** Where the guest's sshd finds its ed25519 host key (the image ships no host keys). */
export const GUEST_HOST_KEY_PATH = '/etc/ssh/ssh_host_ed25519_key';

/**
 * Writes `hostKey` into an unmounted ext4 rootfs image as
 * /etc/ssh/ssh_host_ed25519_key (0600) and its `.pub` (0644), both owned by
 * root, with `debugfs -w`: no mount, so no root privileges are needed on an
 * image the caller owns. Existing keys are replaced. The result is read back
 * and compared, because debugfs reports failed commands only as text.
 */
export async function installHostKey(rootfsPath: string, hostKey: HostKey, options: { signal?: AbortSignal } = {}): Promise<void> {
  const files = [
    { path: GUEST_HOST_KEY_PATH, content: ensureNewline(hostKey.privateKey), mode: 0o600 },
    { path: `${GUEST_HOST_KEY_PATH}.pub`, content: ensureNewline(hostKey.publicKey), mode: 0o644 },
  ];
  // Beside the image (a VM's or template's own directory), not in /tmp: a daemon killed with -9 here
  // would leave a private key in a shared directory; there it goes with the VM.
  const dir = await mkdtemp(join(dirname(rootfsPath), '.hostkey-'));
  try {
    const commands = ['mkdir /etc', 'mkdir /etc/ssh'];
    for (const [index, file] of files.entries()) {
      const local = join(dir, String(index));
      await writeFile(local, file.content, { mode: 0o600 });
      const target = debugfsQuote(file.path);
      // rm fails harmlessly when there is no previous key; write refuses to overwrite.
      commands.push(
        `rm ${target}`,
        `write ${debugfsQuote(local)} ${target}`,
        `sif ${target} mode 0${(0o100000 | file.mode).toString(8)}`,
        `sif ${target} uid 0`,
        `sif ${target} gid 0`,
      );
    }
    const log = await runDebugfs(rootfsPath, commands, { write: true, signal: options.signal });
    for (const file of files) {
      const inode = await statInode(rootfsPath, file.path);
      const content = inode ? (await readImageFile(rootfsPath, file.path)).toString('utf8') : undefined;
      if (!inode || inode.mode !== file.mode || inode.uid !== 0 || inode.gid !== 0 || content !== file.content) {
        const why = lastErrorLine(log) ?? (inode ? 'the file read back differs' : 'the file is missing afterwards');
        throw new InternalError('HOST_KEY_INSTALL_FAILED', `install ssh host key into ${rootfsPath}: ${file.path}: ${why}`, {
          hint: 'check that the image is an ext4 filesystem, is not mounted, and has free space (e2fsck -fn <image>)',
        });
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ensureNewline = (text: string): string => (text.endsWith('\n') ? text : `${text}\n`);

function lastErrorLine(log: string): string | undefined {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('debugfs ') && !/already exists|File not found by ext2_lookup/.test(l));
  return lines.at(-1);
}
