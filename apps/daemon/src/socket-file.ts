import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { InternalError } from '@banger/errors';
import { securePrivateDir } from '@banger/host';

/**
 * Makes the socket's directory (0700) and removes a stale socket file. Only
 * call it while holding the instance lock: then any file there is stale.
 * Refuses to delete something that is not a socket.
 */
export function prepareSocketPath(socketPath: string): void {
  const dir = dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  securePrivateDir(dir);
  let stat;
  try {
    stat = lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new InternalError('DAEMON_SOCKET_PATH_TAKEN', `${socketPath} exists and is not a socket`, { hint: 'move that file away' });
  }
  unlinkSync(socketPath);
}

/** Removes the socket file if it is still there. */
export function removeSocketFile(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch {
    // already gone
  }
}
