import type { Socket } from 'node:net';
import { CancelledError, InternalError } from '@banger/errors';
import { connectUnix } from './agent-connect.js';

/** Longest handshake reply read before giving up on a newline: `OK ` and a u32 port fit in 14 bytes. */
const MAX_REPLY_BYTES = 64;

/**
 * Parses Firecracker's answer to `CONNECT <port>`: exactly `OK <host port>`
 * (the line without its `\n`), the host port a u32. Anything else is not
 * Firecracker's vsock multiplexer (or not a version banger knows), so it is
 * rejected rather than guessed at. Returns the host port, or undefined.
 */
export function parseVsockConnectReply(line: string): number | undefined {
  const match = /^OK ([0-9]{1,10})$/.exec(line);
  if (!match) return undefined;
  const port = Number(match[1]);
  return port <= 0xffff_ffff ? port : undefined;
}

/**
 * Opens a host-initiated vsock connection through Firecracker's UDS (its
 * documented protocol: write `CONNECT <port>\n`, read `OK <host port>\n`,
 * then the stream is the guest's port). Firecracker closes the connection
 * when nothing in the guest listens on the port — the agent is not up yet, or
 * its transport was reset by a snapshot restore — which is AGENT_NOT_LISTENING
 * (retry). A reply that is not `OK <port>` is AGENT_VSOCK_BAD_REPLY, and no
 * reply within `timeoutMs` (one attempt) is AGENT_CONNECT_TIMEOUT.
 */
export async function connectFirecrackerVsock(udsPath: string, port: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Socket> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const started = Date.now();
  const socket = await connectUnix(udsPath, options);
  return new Promise((resolve, reject) => {
    // The reply is read in paused mode (`readable` + read()): the guest's first bytes may share a
    // packet with it, and unshifting them back in flowing mode would re-emit them at once (to this
    // reader) or drop them before the caller listens. Paused, they wait in the buffer for the caller.
    let buffered = Buffer.alloc(0);
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve(socket);
      }
    };
    const badReply = (reply: string) =>
      new InternalError('AGENT_VSOCK_BAD_REPLY', `vsock ${udsPath}: CONNECT ${port} was answered ${JSON.stringify(reply)}, not "OK <port>"`, {
        hint: 'the socket is not a Firecracker vsock device (or the Firecracker version is not one banger supports)',
      });
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        buffered = Buffer.concat([buffered, chunk]);
        const nl = buffered.indexOf(10);
        if (nl < 0) {
          if (buffered.length > MAX_REPLY_BYTES) return done(badReply(`${buffered.subarray(0, MAX_REPLY_BYTES).toString('utf8')}…`));
          continue;
        }
        const line = buffered.subarray(0, nl).toString('utf8');
        if (parseVsockConnectReply(line) === undefined) return done(badReply(line));
        // Bytes after the reply are already the guest's: put back for the caller.
        const rest = buffered.subarray(nl + 1);
        done();
        if (rest.length > 0) socket.unshift(rest);
        return;
      }
    };
    const onClose = () =>
      done(
        new InternalError('AGENT_NOT_LISTENING', `vsock ${udsPath}: nothing listens on guest port ${port} yet`, {
          hint: 'the guest agent may still be starting; retry',
        }),
      );
    // A reset (ECONNRESET) is Firecracker refusing the port too; 'close' follows and says so.
    const onError = () => undefined;
    const onAbort = () => done(new CancelledError(`connecting to guest port ${port} through ${udsPath}: cancelled`));
    const left = Math.max(timeoutMs - (Date.now() - started), 1);
    const timer = setTimeout(() => done(new InternalError('AGENT_CONNECT_TIMEOUT', `vsock ${udsPath}: no answer to CONNECT ${port} after ${timeoutMs} ms`)), left);
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('readable', onReadable);
    socket.once('close', onClose);
    socket.on('error', onError);
    socket.write(`CONNECT ${port}\n`);
  });
}
