import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, type Stats } from 'node:fs';
import { UserError } from '@banger/errors';

const HINT = (dir: string): string => `remove ${dir} (banger makes it again), or set XDG_RUNTIME_DIR to a directory only you can write`;

function unsafe(dir: string, why: string, cause?: unknown): UserError {
  return new UserError('RUNTIME_DIR_UNSAFE', `runtime directory ${dir} cannot hold the daemon socket: ${why}`, { hint: HINT(dir), cause });
}

function checkOwner(dir: string, stat: Stats): void {
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) throw unsafe(dir, `it belongs to uid ${stat.uid}, not to you (uid ${uid})`);
}

/**
 * Makes `dir` 0700 after checking it is a real directory of ours. The runtime
 * dir may sit in a shared place (a world-writable XDG_RUNTIME_DIR): another
 * user could have planted a symlink there, to make the daemon chmod its target,
 * or a directory of their own, to read or replace our socket. Opened with
 * O_NOFOLLOW and changed through the descriptor, so the check and the chmod
 * see the same directory.
 */
export function securePrivateDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR or ELOOP depending on its target.
    const isLink = (() => {
      try {
        return lstatSync(dir).isSymbolicLink();
      } catch {
        return false;
      }
    })();
    const code = (error as NodeJS.ErrnoException).code;
    throw unsafe(dir, isLink ? 'it is a symlink' : code === 'ENOTDIR' ? 'it is not a directory' : (error as Error).message, error);
  }
  try {
    checkOwner(dir, fstatSync(fd));
    if ((fstatSync(fd).mode & 0o777) !== 0o700) fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

/**
 * The client's side of securePrivateDir: before connecting to a socket in
 * `dir`, refuse a dir that is a symlink or belongs to someone else (who could
 * be serving a fake daemon there). A missing dir is fine: nothing runs yet.
 */
export function checkPrivateDir(dir: string): void {
  let stat: Stats;
  try {
    stat = lstatSync(dir);
  } catch {
    return;
  }
  if (stat.isSymbolicLink()) throw unsafe(dir, 'it is a symlink');
  if (!stat.isDirectory()) throw unsafe(dir, 'it is not a directory');
  checkOwner(dir, stat);
}
