import { createHash } from 'node:crypto';
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
 * Caveat: abstract names are per network namespace.
 */
export function instanceLockName(stateDir: string, uid = process.getuid?.() ?? 0): string {
  const hash = createHash('sha256').update(`${uid}\0${stateDir}`).digest('hex').slice(0, 24);
  return `\0banger-${hash}`;
}

/**
 * Takes the one-daemon-per-state-dir lock. While held, whoever connects to the
 * lock name reads one JSON line with the holder's pid and socket path. When
 * the name is taken, throws UserError DAEMON_ALREADY_RUNNING naming the
 * holder's pid and socket.
 */
export async function acquireInstanceLock(stateDir: string, holder: LockHolder): Promise<InstanceLock> {
  const name = instanceLockName(stateDir);
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
