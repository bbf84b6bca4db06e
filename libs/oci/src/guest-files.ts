import { constants } from 'node:fs';
import { chmod, lstat, open, readFile, readdir, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { resolveGuestPath } from './os-release.js';
import { resolveDirInRoot } from './safe-path.js';

/**
 * Writes a file at an absolute guest path inside an unpacked tree without
 * ever leaving it: parents are resolved inside the root (symlinks included),
 * a symlink at the last component is replaced, never followed.
 */
export async function writeGuestFile(root: string, guestPath: string, content: string, mode = 0o644): Promise<void> {
  const parts = guestPath.split('/').filter(Boolean);
  const parent = await resolveDirInRoot(root, parts.slice(0, -1), { create: true, layer: 'provisioning', entry: guestPath });
  const target = join(parent!.hostPath, parts.at(-1)!);
  await rm(target, { recursive: true, force: true });
  const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(content);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/** Creates (or replaces) a symlink at a guest path; the target text is taken verbatim. */
export async function writeGuestSymlink(root: string, guestPath: string, target: string): Promise<void> {
  const parts = guestPath.split('/').filter(Boolean);
  const parent = await resolveDirInRoot(root, parts.slice(0, -1), { create: true, layer: 'provisioning', entry: guestPath });
  const host = join(parent!.hostPath, parts.at(-1)!);
  await rm(host, { recursive: true, force: true });
  await symlink(target, host);
}

/** Creates a directory (and parents) at a guest path, resolved inside the root, and gives it `mode`. */
export async function mkdirGuest(root: string, guestPath: string, mode = 0o755): Promise<string> {
  const parts = guestPath.split('/').filter(Boolean);
  const dir = await resolveDirInRoot(root, parts, { create: true, layer: 'provisioning', entry: guestPath });
  await chmod(dir!.hostPath, mode);
  return dir!.hostPath;
}

/** Removes a guest path (never following a symlink at the last component). */
export async function removeGuestPath(root: string, guestPath: string): Promise<void> {
  const parts = guestPath.split('/').filter(Boolean);
  const parent = await resolveDirInRoot(root, parts.slice(0, -1), { create: false, layer: 'provisioning', entry: guestPath });
  if (parent) await rm(join(parent.hostPath, parts.at(-1)!), { recursive: true, force: true });
}

/** True when the guest path exists (following symlinks inside the root) and is a regular file. */
export async function guestFileExists(root: string, guestPath: string): Promise<boolean> {
  const host = await resolveGuestPath(root, guestPath);
  if (!host) return false;
  return (await lstat(host)).isFile();
}

const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system'];

/** Where a unit file lives in the guest, or undefined when the image does not have it. */
async function findUnit(root: string, unit: string): Promise<{ guestPath: string; text: string } | undefined> {
  for (const dir of UNIT_DIRS) {
    const guestPath = `${dir}/${unit}`;
    const host = await resolveGuestPath(root, guestPath);
    if (host && (await lstat(host)).isFile()) return { guestPath, text: await readFile(host, 'utf8') };
  }
  return undefined;
}

/**
 * `systemctl enable` without running anything from the image: reads the
 * unit's [Install] section and creates the `.wants`/`.requires` symlinks
 * (and follows `Also=`). Returns false when the unit does not exist.
 */
export async function enableUnit(root: string, unit: string, seen = new Set<string>()): Promise<boolean> {
  if (seen.has(unit)) return true;
  seen.add(unit);
  const found = await findUnit(root, unit);
  if (!found) return false;
  const install = found.text.split(/^\[Install\]\s*$/m)[1]?.split(/^\[/m)[0] ?? '';
  for (const line of install.split('\n')) {
    const m = line.trim().match(/^(WantedBy|RequiredBy|Also)\s*=\s*(.+)$/);
    if (!m) continue;
    for (const value of m[2]!.split(/\s+/).filter(Boolean)) {
      if (m[1] === 'Also') await enableUnit(root, value, seen);
      else await writeGuestSymlink(root, `/etc/systemd/system/${value}.${m[1] === 'WantedBy' ? 'wants' : 'requires'}/${unit}`, found.guestPath);
    }
  }
  return true;
}

/** `systemctl mask`: a /dev/null symlink in /etc/systemd/system. */
export async function maskUnit(root: string, unit: string): Promise<void> {
  await writeGuestSymlink(root, `/etc/systemd/system/${unit}`, '/dev/null');
}

/** Lists the ssh host keys an image ships (they must go: each VM gets its own). */
export async function listGuestDir(root: string, guestDir: string): Promise<string[]> {
  const host = await resolveGuestPath(root, guestDir);
  if (!host) return [];
  return (await readdir(host).catch(() => [] as string[])).map((n) => posix.join(guestDir, n));
}
