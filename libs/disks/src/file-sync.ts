import { posix } from 'node:path';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { UserError } from '@banger/errors';

/** One `[[file_sync]]` entry from config.toml. */
export interface FileSyncEntry {
  /** Host path; `~` and `~/…` are the host user's home. */
  host: string;
  /** Guest path: `~`, `~/…` or `/root/…` (the work disk). */
  guest: string;
  /** Octal permission for a copied file, e.g. "0755" or 0o755; files default to 0600. */
  mode?: string | number;
}

/** A file_sync entry with both paths resolved and the mode parsed. */
export interface ResolvedFileSync {
  /** Absolute host path. */
  host: string;
  /** Path relative to /root ('' for /root itself). */
  guestRelative: string;
  /** The guest path as the user will see it, for messages. */
  guest: string;
  mode: number | undefined;
}

/** `file_sync[2] (host = "~/.aws")`: how errors name an entry the user wrote. */
export const describeEntry = (entry: FileSyncEntry, index: number): string =>
  `file_sync[${index}] (host = ${JSON.stringify(entry.host)}, guest = ${JSON.stringify(entry.guest)})`;

/**
 * Validates one entry and resolves its paths. The guest path must stay under
 * /root, because only the work disk (mounted at /root) is written at create
 * time; `..` segments that climb out are refused too.
 */
export function resolveFileSync(entry: FileSyncEntry, index: number, home = homedir()): ResolvedFileSync {
  const where = describeEntry(entry, index);
  if (!entry.host || !entry.guest) {
    throw new UserError('FILE_SYNC_INVALID', `${where}: host and guest are both required`);
  }
  const host = entry.host === '~' ? home : entry.host.startsWith('~/') ? resolve(home, entry.host.slice(2)) : resolve(entry.host);

  let guest = entry.guest;
  if (guest === '~') guest = '/root';
  else if (guest.startsWith('~/')) guest = `/root/${guest.slice(2)}`;
  const normalised = posix.normalize(guest).replace(/\/+$/, '') || '/';
  if (!guest.startsWith('/') || (normalised !== '/root' && !normalised.startsWith('/root/'))) {
    throw new UserError('FILE_SYNC_GUEST_OUTSIDE_ROOT', `${where}: guest path must be under /root (~/…), got ${JSON.stringify(entry.guest)}`, {
      hint: 'file_sync writes to the work disk mounted at /root; use "~/<path>" or "/root/<path>"',
    });
  }
  const mode = parseMode(entry.mode, where);
  return { host, guest: normalised, guestRelative: posix.relative('/root', normalised), mode };
}

function parseMode(mode: string | number | undefined, where: string): number | undefined {
  if (mode === undefined) return undefined;
  const value = typeof mode === 'number' ? mode : /^0?o?[0-7]{3,4}$/.test(mode) ? Number.parseInt(mode.replace(/^0?o?/, ''), 8) : Number.NaN;
  if (!Number.isInteger(value) || value < 0 || value > 0o7777) {
    throw new UserError('FILE_SYNC_BAD_MODE', `${where}: mode ${JSON.stringify(mode)} is not an octal permission`, {
      hint: 'write it as a quoted octal string, e.g. mode = "0755"',
    });
  }
  return value;
}
