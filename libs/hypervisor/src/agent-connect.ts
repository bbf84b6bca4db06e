import { createConnection, type Socket } from 'node:net';
import { CancelledError, InternalError } from '@banger/errors';

/** Connects to a Unix socket, rejecting on error or after timeoutMs. */
export function connectUnix(path: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Socket> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const fail = (error: Error) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(new CancelledError(`connecting to ${path}: cancelled`));
    const timer = setTimeout(() => fail(new InternalError('AGENT_CONNECT_TIMEOUT', `connecting to ${path}: no answer after ${timeoutMs} ms`)), timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (e) => fail(new InternalError('AGENT_CONNECT_FAILED', `connecting to ${path}: ${e.message}`, { cause: e })));
    socket.once('connect', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}
