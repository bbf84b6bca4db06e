import { isAbsolute, posix } from 'node:path';
import type { Problem } from './subnet.js';

/** Expands a leading `~` or `~/` to `home`. `~user` is not supported and left as is. */
export function expandHome(path: string, home: string): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return posix.join(home, path.slice(2));
  return path;
}

/** A path with NUL or a line break: no file system or shell handles it the same way twice. */
const controlCharacters: Problem = { message: 'a path must not contain NUL or line breaks', hint: 'remove the control characters from the path' };

/**
 * Normalises a `file_sync.guest` path to the absolute `/root/…` form. Guest
 * files land on the work disk, which the guest mounts at /root, so anything
 * that resolves outside /root (after `..` is collapsed) cannot be honoured.
 */
export function normalizeGuestPath(path: string): { path: string } | { problem: Problem } {
  if (/[\0\n\r]/.test(path)) return { problem: controlCharacters };
  let rest: string;
  if (path.startsWith('~/')) rest = path.slice(2);
  else if (path.startsWith('/root/')) rest = path.slice('/root/'.length);
  else {
    return {
      problem: {
        message: 'expected a path under "~/" or "/root/" (files are copied onto the work disk mounted at /root)',
        hint: 'write it as "~/<path>", e.g. "~/.aws"',
      },
    };
  }
  const normalized = posix.normalize(`/root/${rest}`).replace(/(.)\/+$/, '$1');
  if (normalized.startsWith('/root/')) return { path: normalized };
  return {
    problem: {
      message: normalized === '/root' ? 'expected a path below /root, not /root itself' : `it resolves to "${normalized}", outside /root`,
      hint: 'file_sync can only write below /root (the work disk); remove the ".." components',
    },
  };
}

/** The part of a normalised guest path below /root: `/root/.aws` → `.aws`. */
export function guestPathUnderRoot(guest: string): string {
  return guest.startsWith('/root/') ? guest.slice('/root/'.length) : guest.replace(/^~\//, '');
}

/** `~` expanded, must then be absolute. */
export function checkHostPath(path: string, home: string): { path: string } | { problem: Problem } {
  if (/[\0\n\r]/.test(path)) return { problem: controlCharacters };
  const expanded = expandHome(path, home);
  if (expanded === '' || !isAbsolute(expanded)) {
    return { problem: { message: 'expected an absolute path or one starting with "~/"', hint: `write it as "~/${path.replace(/^\.\//, '')}" or as an absolute path` } };
  }
  return { path: posix.normalize(expanded) };
}

/**
 * A binary override: an absolute path (`~` expanded) or a bare command name
 * looked up on PATH. A relative path with a slash would depend on the
 * daemon's working directory, so it is refused.
 */
export function checkBinary(path: string, home: string): { path: string } | { problem: Problem } {
  if (path !== '' && !path.includes('/') && !path.startsWith('~')) return { path };
  return checkHostPath(path, home);
}
