import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small real ext4 image (mkfs.ext4 -d, 64 MiB, sparse) shaped like a
 * rootfs: /sbin/init → /lib/systemd/systemd, /usr/sbin/sshd, /root/.bashrc,
 * plus `randomKiB` of incompressible data so a bundle is big enough to cut
 * mid-download.
 */
export function makeTinyRootfs(outFile: string, options: { init?: boolean; sshd?: boolean; randomKiB?: number } = {}): string {
  const tree = mkdtempSync(join(tmpdir(), 'banger-tiny-tree-'));
  try {
    for (const dir of ['usr/sbin', 'usr/lib/systemd', 'etc', 'root/.ssh', 'var/data']) mkdirSync(join(tree, dir), { recursive: true });
    symlinkSync('usr/sbin', join(tree, 'sbin'));
    symlinkSync('usr/lib', join(tree, 'lib'));
    if (options.init ?? true) {
      writeFileSync(join(tree, 'usr/lib/systemd/systemd'), '#!/bin/sh\nexec /bin/sh\n');
      chmodSync(join(tree, 'usr/lib/systemd/systemd'), 0o755);
      symlinkSync('/lib/systemd/systemd', join(tree, 'usr/sbin/init'));
    }
    if (options.sshd ?? true) {
      writeFileSync(join(tree, 'usr/sbin/sshd'), '#!/bin/sh\n');
      chmodSync(join(tree, 'usr/sbin/sshd'), 0o755);
    }
    writeFileSync(join(tree, 'root/.bashrc'), 'PS1="tiny# "\n');
    chmodSync(join(tree, 'root'), 0o700);
    writeFileSync(join(tree, 'etc/hostname'), 'tiny\n');
    writeFileSync(join(tree, 'var/data/random.bin'), randomBytes((options.randomKiB ?? 0) * 1024));
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'tiny', '-E', 'root_owner=0:0', '-d', tree, outFile, '64M'], { stdio: 'pipe' });
    return outFile;
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}
