import { readFileSync } from 'node:fs';
import { runPrivileged } from '@banger/host';

/**
 * Removes a root-owned build tree. An mmdebstrap killed mid-hook can leave
 * /proc, /sys or /dev mounted inside it, so those are unmounted first and
 * `rm --one-file-system` refuses to cross into anything still mounted:
 * never the host's /dev.
 */
export async function removeTree(path: string): Promise<void> {
  for (const mount of mountsUnder(path).reverse()) {
    await runPrivileged('umount', ['-l', mount], { allowFailure: true });
  }
  // Never a recursive rm from here: it would follow a bind-mounted /dev into the host's.
  await runPrivileged('rm', ['-rf', '--one-file-system', '--', path]);
}

function mountsUnder(path: string): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .map((p) => p.replace(/\\040/g, ' '))
      .filter((p) => p === path || p.startsWith(`${path}/`));
  } catch {
    return [];
  }
}
