import { connect } from 'node:net';

/**
 * Whether something accepts TCP connections on host:port within `timeoutMs`
 * (the connection is closed at once, nothing is sent). Used to notice that a
 * guest's sshd listens without costing it a key exchange.
 */
export function tcpPortOpen(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(open);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
