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

/**
 * Opens a host-initiated vsock connection through Firecracker's UDS: sends
 * `CONNECT <port>\n` and expects `OK <host port>\n`. Firecracker closes the
 * connection instead when nothing in the guest listens on the port (the guest
 * agent is not up yet), which becomes a retryable error.
 */
export async function connectFirecrackerVsock(udsPath: string, port: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Socket> {
  const socket = await connectUnix(udsPath, options);
  const timeoutMs = options.timeoutMs ?? 5_000;
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve(socket);
      }
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(10);
      if (nl < 0) return;
      const line = buffered.subarray(0, nl).toString('utf8').trim();
      const rest = buffered.subarray(nl + 1);
      if (!/^OK \d+$/.test(line)) return done(new InternalError('AGENT_CONNECT_FAILED', `vsock ${udsPath} port ${port}: unexpected answer "${line}"`));
      if (rest.length > 0) socket.unshift(rest);
      done();
    };
    const onClose = () =>
      done(
        new InternalError('AGENT_NOT_LISTENING', `vsock ${udsPath}: nothing listens on guest port ${port} yet`, {
          hint: 'the guest agent may still be starting; retry',
        }),
      );
    const timer = setTimeout(() => done(new InternalError('AGENT_CONNECT_TIMEOUT', `vsock ${udsPath} port ${port}: no answer after ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`CONNECT ${port}\n`);
  });
}
