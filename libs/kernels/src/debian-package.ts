import { mkdir } from 'node:fs/promises';
import { UserError } from '@banger/errors';
import { run } from '@banger/host';
import type { ArchivePackage, DebianArchive } from './debian-archive/index.js';

/** One binary package version, as a signed Debian index lists it. */
export interface DebianPackageRef {
  package: string;
  version: string;
  sha256?: string;
}

/**
 * Resolves a kernel package name to the versioned image package that holds
 * the kernel: a meta package such as `linux-image-cloud-amd64` depends on
 * `linux-image-6.1.0-57-cloud-amd64`, which ships /boot/vmlinuz-*.
 */
export function resolveKernelPackage(archive: DebianArchive, name: string): ArchivePackage {
  let current = name;
  for (let depth = 0; depth < 4; depth++) {
    const record = archive.get(current);
    if (/^linux-image-\d/.test(record.package)) return record;
    const next = record.depends.find((dep) => dep.startsWith('linux-image-'));
    if (!next) {
      throw new UserError('DEB_NOT_A_KERNEL', `cannot build a kernel from ${name}: ${record.package} is not a linux-image package`, {
        hint: 'pass a linux-image-* package, e.g. linux-image-cloud-amd64',
      });
    }
    current = next;
  }
  throw new UserError('DEB_NOT_A_KERNEL', `cannot build a kernel from ${name}: too many levels of meta packages`);
}

/** Unpacks a .deb's data into `destDir` with `dpkg-deb -x` (no root needed, no maintainer scripts). */
export async function unpackDeb(deb: string, destDir: string, signal?: AbortSignal): Promise<void> {
  await mkdir(destDir, { recursive: true });
  await run('dpkg-deb', ['-x', deb, destDir], { signal });
}

