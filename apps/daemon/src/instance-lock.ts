import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Server } from 'node:net';
import { UserError } from '@banger/errors';

/** Who holds the lock: what a refused second daemon reports. */
export interface LockHolder {
  pid: number;
  socket: string;
}

/** A held instance lock; release() is idempotent. */
export interface InstanceLock {
  readonly name: string;
  release(): Promise<void>;
}

/**
 * The abstract-namespace socket name that stands for "the daemon of this
 * state dir for this user". The kernel frees an abstract name the moment the
 * process dies, even on kill -9, so there is never a stale lock to clean up.
 * Abstract names have no owner or mode: anyone can bind any name first. The
 * name therefore mixes in `secret` (see readLockSecret), which only this user
 * can read, so another user cannot squat it and make our daemon refuse to start.
 * Caveat: abstract names are per network namespace.
 */
export function instanceLockName(stateDir: string, secret: string, uid = process.getuid?.() ?? 0): string {
  const hash = createHash('sha256').update(`${uid}\0${stateDir}\0${secret}`).digest('hex').slice(0, 32);
  return `\0banger-${hash}`;
}

/**
 * The per-state-dir lock secret: 32 random bytes in `<stateDir>/daemon-lock.key`
 * (0600, in the 0700 state dir), created on first use with O_EXCL so two
 * daemons starting at once agree on one. Refuses a state dir or key that
 * belongs to another user, or a key that is a symlink.
 */
export function readLockSecret(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.();
  const dirStat = lstatSync(stateDir);
  if (uid !== undefined && dirStat.uid !== uid) {
    throw new UserError('DAEMON_STATE_DIR_NOT_OURS', `state directory ${stateDir} belongs to uid ${dirStat.uid}, not to you (uid ${uid})`, {
      hint: 'point BANGER_HOME or XDG_STATE_HOME at a directory you own',
    });
  }
  const keyPath = join(stateDir, 'daemon-lock.key');
  if (!existsSync(keyPath)) {
    // Written whole under a private name, then linked into place: link() fails if a key is
    // already there, so a crash never leaves a half-written key and two starts agree on one.
    const tmp = `${keyPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, keyPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      unlinkSync(tmp);
    }
  }
  let fd: number;
  try {
    fd = openSync(keyPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    throw new UserError('DAEMON_LOCK_KEY_UNREADABLE', `cannot read ${keyPath}: ${(error as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symlink' : (error as Error).message}`, {
      hint: `remove ${keyPath}; banger makes a new one`,
      cause: error,
    });
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o077) !== 0) {
      throw new UserError('DAEMON_LOCK_KEY_UNSAFE', `${keyPath} must be a regular file of yours that only you can read`, {
        hint: `remove ${keyPath}; banger makes a new one`,
      });
    }
    const secret = readFileSync(fd, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(secret)) {
      throw new UserError('DAEMON_LOCK_KEY_UNSAFE', `${keyPath} is not a banger lock key`, { hint: `remove ${keyPath}; banger makes a new one` });
    }
    return secret;
  } finally {
    closeSync(fd);
  }
}

/**
 * Takes the one-daemon-per-state-dir lock. While held, whoever connects to the
 * lock name reads one JSON line with the holder's pid and socket path. When
 * the name is taken, throws UserError DAEMON_ALREADY_RUNNING naming the
 * holder's pid and socket.
 */
export async function acquireInstanceLock(stateDir: string, holder: LockHolder): Promise<InstanceLock> {
  const name = instanceLockName(stateDir, readLockSecret(stateDir));
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${JSON.stringify(holder)}\n`);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const other = await readHolder(name);
    const who = other ? `pid ${other.pid}, socket ${other.socket}` : 'pid unknown';
    throw new UserError('DAEMON_ALREADY_RUNNING', `already running (${who})`, {
      hint: 'stop it first with: banger daemon stop',
    });
  }
  let released: Promise<void> | undefined;
  return {
    name,
    release: () => (released ??= closeServer(server)),
  };
}

/** Reads the holder's line; undefined when it does not answer within a second. */
export function readHolder(name: string): Promise<LockHolder | undefined> {
  return new Promise((resolve) => {
    const socket = connect(name);
    let data = '';
    const done = (value: LockHolder | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), 1_000);
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('end', () => {
      try {
        done(JSON.parse(data) as LockHolder);
      } catch {
        done(undefined);
      }
    });
    socket.on('error', () => done(undefined));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
