import { readFile } from 'node:fs/promises';
import { InternalError } from '@banger/errors';

/**
 * Refuses to go on when anything is mounted at or below `dir` (from
 * /proc/self/mountinfo): deleting a tree with the host's /dev bound inside
 * it would delete device nodes of the host. Provisioning runs its mounts in
 * a private namespace, so this is a last line of defence.
 */
export async function assertNothingMounted(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const line of info.split('\n')) {
    const mountPoint = line.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mountPoint && (mountPoint === dir || mountPoint.startsWith(prefix))) {
      throw new InternalError('OCI_MOUNT_LEFT', `refusing to remove ${dir}: ${mountPoint} is still mounted`, {
        hint: `unmount it (umount -R ${mountPoint}) and remove ${dir} by hand`,
      });
    }
  }
}
