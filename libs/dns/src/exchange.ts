import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { HEADER_BYTES, QR } from './wire.js';
import type { Upstream } from './upstreams.js';

/** Why one exchange with an upstream gave no usable answer. */
export class ExchangeError extends Error {
  constructor(
    readonly reason: 'timeout' | 'refused' | 'error' | 'aborted',
    message: string,
  ) {
    super(message);
    this.name = 'ExchangeError';
  }
}

/**
 * True when `reply` answers `query`: a response with the same id and the
 * same question bytes (which also checks the name's case, as in DNS 0x20).
 * Anything else on the socket is ignored, so a stray or spoofed packet
 * cannot end the exchange.
 */
export function repliesTo(query: Buffer, questionEnd: number, reply: Buffer): boolean {
  return (
    reply.length >= questionEnd &&
    reply.readUInt16BE(0) === query.readUInt16BE(0) &&
    (reply.readUInt16BE(2) & QR) !== 0 &&
    reply.readUInt16BE(4) === 1 &&
    reply.subarray(HEADER_BYTES, questionEnd).equals(query.subarray(HEADER_BYTES, questionEnd))
  );
}

/**
 * Sends `query` to `upstream` over UDP from a fresh socket (a random source
 * port per query) and resolves with the first reply that answers it.
 * Rejects with ExchangeError: `refused` at once when the port is closed
 * (ICMP unreachable on the connected socket), `timeout` after `timeoutMs`.
 */
export function exchangeUdp(query: Buffer, questionEnd: number, upstream: Upstream, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(upstream.host.replace(/%.*$/, '')) ? 'udp6' : 'udp4' });
    let done = false;
    const finish = (error: Error | undefined, reply?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      if (error) reject(error);
      else resolve(reply as Buffer);
    };
    const onAbort = (): void => finish(new ExchangeError('aborted', 'aborted'));
    const timer = setTimeout(() => finish(new ExchangeError('timeout', `no answer within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(new ExchangeError(error.code === 'ECONNREFUSED' ? 'refused' : 'error', `${error.code ?? error.message}`)),
    );
    socket.on('message', (reply) => {
      if (repliesTo(query, questionEnd, reply)) finish(undefined, reply);
    });
    socket.connect(upstream.port, upstream.host, () => {
      socket.send(query, (error) => error && finish(new ExchangeError('error', error.message)));
    });
  });
}

/**
 * Sends `query` to `upstream` over TCP (2-byte length framing) and resolves
 * with the reply; rejects with ExchangeError on a refused connection, a
 * reply that does not answer the query, or no reply within `timeoutMs`.
 */
export function exchangeTcp(query: Buffer, questionEnd: number, upstream: Upstream, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let done = false;
    let received: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, reply?: Buffer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply as Buffer);
    };
    const onAbort = (): void => finish(new ExchangeError('aborted', 'aborted'));
    const timer = setTimeout(() => finish(new ExchangeError('timeout', `no answer over TCP within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      finish(new ExchangeError(error.code === 'ECONNREFUSED' ? 'refused' : 'error', `${error.code ?? error.message}`)),
    );
    socket.on('connect', () => {
      const framed = Buffer.alloc(2 + query.length);
      framed.writeUInt16BE(query.length, 0);
      query.copy(framed, 2);
      socket.write(framed);
    });
    socket.on('data', (chunk: Buffer) => {
      received = received.length ? Buffer.concat([received, chunk]) : chunk;
      while (received.length >= 2) {
        const length = received.readUInt16BE(0);
        if (received.length < 2 + length) return;
        const reply = received.subarray(2, 2 + length);
        received = received.subarray(2 + length);
        if (repliesTo(query, questionEnd, reply)) return finish(undefined, Buffer.from(reply));
      }
    });
    socket.on('end', () => finish(new ExchangeError('error', 'the upstream closed the connection without an answer')));
  });
}
