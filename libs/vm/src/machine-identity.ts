import { randomBytes } from 'node:crypto';
import { writeImageFiles } from './image-files.js';

/**
 * Gives a VM's rootfs copy its own identity without mounting it: /etc/hostname
 * (the VM name) and a fresh /etc/machine-id, so journald, DHCP DUIDs and
 * systemd units do not see every VM of an image as the same machine.
 */
export async function writeMachineIdentity(rootfs: string, hostname: string, options: { signal?: AbortSignal } = {}): Promise<{ machineId: string }> {
  const machineId = randomBytes(16).toString('hex');
  await writeImageFiles(
    rootfs,
    [
      { path: '/etc/hostname', content: `${hostname}\n` },
      { path: '/etc/machine-id', content: `${machineId}\n`, mode: 0o444 },
    ],
    options,
  );
  return { machineId };
}
