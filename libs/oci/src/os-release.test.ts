import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { distroFamily, parseOsRelease, readOsRelease } from './os-release.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('os-release detection', () => {
  it('maps Debian, Ubuntu, Alpine, Fedora and their derivatives to a package-manager family', () => {
    expect(distroFamily(parseOsRelease('ID=debian\nVERSION_ID="12"'))).toBe('debian');
    expect(distroFamily(parseOsRelease('ID=ubuntu\nID_LIKE=debian'))).toBe('debian');
    expect(distroFamily(parseOsRelease('ID=linuxmint\nID_LIKE="ubuntu debian"'))).toBe('debian');
    expect(distroFamily(parseOsRelease('ID=alpine'))).toBe('alpine');
    expect(distroFamily(parseOsRelease('ID="fedora"'))).toBe('fedora');
    expect(distroFamily(parseOsRelease('ID=rocky\nID_LIKE="rhel centos fedora"'))).toBe('fedora');
    expect(distroFamily(parseOsRelease('ID=arch'))).toBeUndefined();
  });

  it('reads /etc/os-release through a symlink that stays inside the image', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-osr-'));
    await mkdir(join(dir, 'etc'));
    await mkdir(join(dir, 'usr/lib'), { recursive: true });
    await writeFile(join(dir, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n');
    await symlink('../usr/lib/os-release', join(dir, 'etc/os-release'));
    expect(await readOsRelease(dir)).toEqual({ id: 'debian', idLike: [], versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
  });

  it('does not follow an absolute os-release symlink out of the image', async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-osr-'));
    await mkdir(join(dir, 'etc'));
    await symlink('/etc/os-release', join(dir, 'etc/os-release')); // would be the host's file if followed
    expect(await readOsRelease(dir)).toBeUndefined();
  });
});
