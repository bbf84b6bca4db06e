import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InternalError } from '@banger/errors';
import { debugfsQuote, readImageFile, runDebugfs } from '@banger/guest';

/**
 * Gives a VM's rootfs copy its own identity without mounting it: /etc/hostname
 * (the VM name) and a fresh /etc/machine-id, so journald, DHCP DUIDs and
 * systemd units do not see every VM of an image as the same machine. Written
 * with `debugfs -w` and read back, since debugfs does not report failures
 * in its exit status.
 */
export async function writeMachineIdentity(rootfs: string, hostname: string, options: { signal?: AbortSignal } = {}): Promise<{ machineId: string }> {
  const machineId = randomBytes(16).toString('hex');
  const files = [
    { path: '/etc/hostname', content: `${hostname}\n` },
    { path: '/etc/machine-id', content: `${machineId}\n` },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'banger-identity-'));
  try {
    const commands = ['mkdir /etc'];
    for (const [index, file] of files.entries()) {
      const local = join(dir, String(index));
      await writeFile(local, file.content);
      const target = debugfsQuote(file.path);
      commands.push(`rm ${target}`, `write ${debugfsQuote(local)} ${target}`, `sif ${target} mode 0100644`, `sif ${target} uid 0`, `sif ${target} gid 0`);
    }
    await runDebugfs(rootfs, commands, { write: true, ...(options.signal ? { signal: options.signal } : {}) });
    for (const file of files) {
      const actual = await readImageFile(rootfs, file.path).then((b) => b.toString('utf8'), () => undefined);
      if (actual !== file.content) {
        throw new InternalError('VM_IDENTITY_FAILED', `write ${file.path} into ${rootfs}: the file read back differs`, {
          hint: 'check that the rootfs is ext4, not mounted, and has free space (e2fsck -fn <file>)',
        });
      }
    }
    return { machineId };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
