import type { Socket } from 'node:net';

/**
 * Resolves once `socket` holds at most `bytes` of unsent output (or is gone):
 * a side that streams (the CLI's stdin, the daemon's output events) waits
 * here instead of buffering without bound.
 */
export function whenDrained(socket: Socket, bytes = 0): Promise<void> {
  if (socket.destroyed || socket.writableLength <= bytes) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}
