import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The fields of /etc/os-release banger uses. */
export interface OsRelease {
  id: string;
  idLike: string[];
  versionId?: string;
  versionCodename?: string;
  prettyName?: string;
}

/** The package-manager families provisioning knows how to drive. */
export type DistroFamily = 'debian' | 'alpine' | 'fedora';

/** Parses os-release text (`KEY=value`, values optionally quoted, `#` comments). */
export function parseOsRelease(text: string): OsRelease {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = line.trim().match(/^([A-Z0-9_]+)=(.*)$/);
    if (!m) continue;
    let value = m[2]!.trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    fields[m[1]!] = value;
  }
  return {
    id: (fields['ID'] ?? 'linux').toLowerCase(),
    idLike: (fields['ID_LIKE'] ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    ...(fields['VERSION_ID'] ? { versionId: fields['VERSION_ID'] } : {}),
    ...(fields['VERSION_CODENAME'] ? { versionCodename: fields['VERSION_CODENAME'] } : {}),
    ...(fields['PRETTY_NAME'] ? { prettyName: fields['PRETTY_NAME'] } : {}),
  };
}

/** Which provisioning family a distribution belongs to, from ID and ID_LIKE; undefined when unknown. */
export function distroFamily(os: OsRelease): DistroFamily | undefined {
  const ids = [os.id, ...os.idLike];
  if (ids.some((id) => id === 'debian' || id === 'ubuntu')) return 'debian';
  if (ids.includes('alpine')) return 'alpine';
  if (ids.some((id) => id === 'fedora' || id === 'rhel' || id === 'centos')) return 'fedora';
  return undefined;
}

/**
 * Resolves an absolute guest path inside `root`, following symlinks as the
 * guest would (absolute targets from the root, `..` clamped at the root),
 * and returns the host path, or undefined if it does not exist. Used to look
 * at files in an unpacked image without ever leaving it.
 */
export async function resolveGuestPath(root: string, guestPath: string): Promise<string | undefined> {
  const queue = guestPath.split('/');
  const resolved: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, c);
    const st = await lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    resolved.push(c);
  }
  return join(root, ...resolved);
}

/** Reads /etc/os-release (or /usr/lib/os-release) of an unpacked tree; undefined when neither exists. */
export async function readOsRelease(root: string): Promise<OsRelease | undefined> {
  for (const candidate of ['/etc/os-release', '/usr/lib/os-release']) {
    const host = await resolveGuestPath(root, candidate);
    if (!host) continue;
    const st = await lstat(host);
    if (!st.isFile() || st.size > 64 * 1024) continue;
    return parseOsRelease(await readFile(host, 'utf8'));
  }
  return undefined;
}
