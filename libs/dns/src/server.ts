import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import { InternalError } from '@banger/errors';
import type { Forwarder } from './forwarder.js';
import { ClientRateLimiter, type RateLimit } from './rate-limit.js';
import { classifyQuery, MAX_QUERY_BYTES, type VmLookup } from './zone.js';

/** Options of `startDnsServer`. */
export interface DnsServerOptions {
  /** Address to listen on, e.g. the bridge address or 127.0.0.1. */
  host: string;
  /**
   * UDP and TCP port; 0 picks a free one (tests). A list is tried in order,
   * moving on when a port is taken or privileged (e.g. `[53, 5353]`: 53 when
   * bangerd may bind it); the returned server says which one it got.
   */
  port: number | readonly number[];
  /**
   * Called for every query under `.vm` with the VM name (lowercase, no
   * `.vm`). Records follow it live: pass a lookup over the daemon's VM table.
   */
  lookup: VmLookup;
  /** Seconds answers may be cached (default 5: VMs come and go). */
  ttl?: number;
  /** Told about socket-level errors, which never stop the server. */
  onError?: (error: Error) => void;
  /**
   * Forwarding for names outside `.vm` (the bridge listener): queries from
   * clients `allows` accepts go to `forwarder`; everyone else keeps getting
   * REFUSED. Without it the server is authoritative-only.
   */
  forward?: { forwarder: Forwarder; allows: (clientAddress: string) => boolean };
  /** Per-client query budget (over it, queries are dropped); off when absent. */
  rateLimit?: RateLimit;
  /** TCP bounds (tests shorten them); defaults in TCP_LIMITS. */
  tcp?: Partial<TcpLimits>;
}

/** Bounds of DNS over TCP: slow, silent or non-reading clients cannot hold the server's memory or every slot. */
export interface TcpLimits {
  /** Open connections at most; a new one evicts the longest-idle connection with nothing in flight. */
  maxConnections: number;
  /** A connection with no traffic for this long is closed. */
  idleMs: number;
  /** A message whose first byte arrived must be complete within this (a byte every few seconds is not a client). */
  messageMs: number;
  /** Queries in flight or replies unsent per connection; past it the server stops reading (TCP back-pressure). */
  maxPending: number;
  /** Reply bytes queued but unsent per connection before the server stops reading. */
  maxUnsentBytes: number;
}

export const TCP_LIMITS: TcpLimits = { maxConnections: 64, idleMs: 10_000, messageMs: 3_000, maxPending: 16, maxUnsentBytes: 64 * 1024 };

/** A running `.vm` DNS server. */
export interface DnsServer {
  address: string;
  port: number;
  /** Queries dropped because their client was over its rate limit. */
  rateLimited(): number;
  /** Stops listening on UDP and TCP and drops open TCP connections. */
  close(): Promise<void>;
}

/**
 * Starts the authoritative DNS server for the `vm.` zone on UDP and TCP
 * (RFC 1035 2-byte length framing, several queries per connection). See
 * classifyQuery for what is answered; malformed, truncated and oversized input
 * is dropped or answered FORMERR and never harms the server.
 */
export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const ports = typeof options.port === 'number' ? [options.port] : [...options.port];
  if (ports.length === 0) throw new InternalError('DNS_LISTEN_FAILED', `dns server: no port to listen on for ${options.host}`);
  for (const [index, port] of ports.entries()) {
    try {
      return await listenOn({ ...options, port });
    } catch (error) {
      const code = ((error as InternalError).cause as NodeJS.ErrnoException | undefined)?.code;
      const last = index === ports.length - 1;
      if (last || (code !== 'EACCES' && code !== 'EADDRINUSE')) throw error;
    }
  }
  throw new InternalError('DNS_LISTEN_FAILED', `dns server: cannot listen on ${options.host}`); // unreachable
}

async function listenOn(options: DnsServerOptions & { port: number }): Promise<DnsServer> {
  const zone = {
    lookup: options.lookup,
    ttl: options.ttl ?? 5,
    serial: Math.floor(Date.now() / 1000) >>> 0,
    ...(isIPv6(options.host) || options.host === '0.0.0.0' ? {} : { apexAddress: options.host }),
  };
  const onError = options.onError ?? (() => undefined);
  const limiter = options.rateLimit ? new ClientRateLimiter(options.rateLimit) : undefined;
  const forward = options.forward;
  /** The reply to one query from `client`: a Buffer now, a Promise when forwarded, undefined to drop it. */
  const answer = (query: Buffer, client: string, transport: 'udp' | 'tcp'): Buffer | Promise<Buffer | undefined> | undefined => {
    if (limiter && !limiter.allow(client)) return undefined;
    try {
      const outcome = classifyQuery(query, zone, forward !== undefined && forward.allows(client));
      if ('reply' in outcome) return outcome.reply;
      if ('drop' in outcome || !forward) return undefined;
      return forward.forwarder.resolve(query, outcome.forward, transport).catch((error: unknown) => {
        onError(error as Error);
        return undefined;
      });
    } catch (error) {
      onError(error as Error);
      return undefined;
    }
  };
  const tcpLimits: TcpLimits = { ...TCP_LIMITS, ...(options.tcp ?? {}) };

  let lastError: unknown;
  // With port 0, UDP picks the port and TCP must get the same one; retry if another process holds it on TCP.
  for (let attempt = 0; attempt < (options.port === 0 ? 5 : 1); attempt++) {
    const udp = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(options.port, options.host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      udp.close();
      throw bindError(options, 'UDP', error);
    }
    const port = udp.address().port;
    const connections = new Map<Socket, TcpConnection>();
    const tcp = createServer((socket) => serveTcp(socket, connections, tcpLimits, answer));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, options.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      udp.close();
      lastError = error;
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && options.port === 0) continue;
      throw bindError(options, 'TCP', error);
    }
    const send = (response: Buffer | undefined, peer: { port: number; address: string }): void => {
      if (response) udp.send(response, peer.port, peer.address, (error) => error && onError(error));
    };
    udp.on('message', (query, peer) => {
      const response = answer(query, peer.address, 'udp');
      if (response instanceof Promise) void response.then((r) => send(r, peer));
      else send(response, peer);
    });
    udp.on('error', onError);
    tcp.on('error', onError);
    return { address: options.host, port, rateLimited: () => limiter?.limited ?? 0, close: () => closeAll(udp, tcp, connections) };
  }
  throw bindError(options, 'TCP', lastError);
}

/** What the server tracks per TCP connection. */
interface TcpConnection {
  lastActivity: number;
  pending: number;
}

type Answerer = (query: Buffer, client: string, transport: 'udp' | 'tcp') => Buffer | Promise<Buffer | undefined> | undefined;

/**
 * Serves one DNS-over-TCP connection (RFC 1035/7766 framing, pipelined
 * queries, replies possibly out of order). Bounded: at most `maxPending`
 * queries in flight or `maxUnsentBytes` of replies unsent, past which the
 * socket is paused so a client that does not read is back-pressured by TCP
 * instead of growing the daemon; a message must complete within `messageMs`
 * of its first byte; `idleMs` without traffic closes it.
 */
function serveTcp(socket: Socket, connections: Map<Socket, TcpConnection>, limits: TcpLimits, answer: Answerer): void {
  if (connections.size >= limits.maxConnections) {
    // Full: make room by closing the connection idle longest with nothing in flight, else turn this one away.
    let victim: [Socket, TcpConnection] | undefined;
    for (const entry of connections) if (entry[1].pending === 0 && (!victim || entry[1].lastActivity < victim[1].lastActivity)) victim = entry;
    if (!victim) {
      socket.destroy();
      return;
    }
    victim[0].destroy();
    connections.delete(victim[0]);
  }
  const state: TcpConnection = { lastActivity: Date.now(), pending: 0 };
  connections.set(socket, state);
  socket.setTimeout(limits.idleMs, () => socket.destroy());
  socket.on('close', () => {
    clearTimeout(messageTimer);
    connections.delete(socket);
  });
  socket.on('error', () => socket.destroy());
  socket.on('drain', () => pump());
  const client = socket.remoteAddress ?? '';
  let buffered: Buffer = Buffer.alloc(0);
  let messageTimer: NodeJS.Timeout | undefined;

  const write = (response: Buffer): void => {
    if (socket.destroyed) return;
    const framed = Buffer.alloc(2 + response.length);
    framed.writeUInt16BE(response.length, 0);
    response.copy(framed, 2);
    socket.write(framed);
  };
  const full = (): boolean => state.pending >= limits.maxPending || socket.writableLength >= limits.maxUnsentBytes;

  // Takes whole messages off the buffer while there is room, then decides whether to keep reading.
  const pump = (): void => {
    while (!socket.destroyed && buffered.length >= 2 && !full()) {
      const length = buffered.readUInt16BE(0);
      // A client announcing a huge or empty message is not speaking DNS to us: hang up instead of buffering.
      if (length < 12 || length > MAX_QUERY_BYTES) {
        socket.destroy();
        return;
      }
      if (buffered.length < 2 + length) break;
      const query = Buffer.from(buffered.subarray(2, 2 + length));
      buffered = buffered.subarray(2 + length);
      clearTimeout(messageTimer); // this message made it in time; the next one gets its own clock
      messageTimer = undefined;
      state.lastActivity = Date.now();
      const response = answer(query, client, 'tcp');
      if (response instanceof Promise) {
        state.pending++;
        void response.then((r) => {
          state.pending--;
          if (r) write(r);
          else socket.destroy();
          pump();
        });
      } else if (response) write(response);
      else {
        socket.destroy();
        return;
      }
    }
    if (socket.destroyed) return;
    if (full()) socket.pause();
    else socket.resume();
    // Only a partial message the server is willing to read runs the clock; a paused socket is the server's doing.
    const partial = buffered.length > 0 && !full();
    if (partial && !messageTimer) messageTimer = setTimeout(() => socket.destroy(), limits.messageMs);
    else if (!partial && messageTimer) {
      clearTimeout(messageTimer);
      messageTimer = undefined;
    }
  };

  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    pump();
  });
}

async function closeAll(udp: UdpSocket, tcp: TcpServer, connections: Map<Socket, TcpConnection>): Promise<void> {
  for (const socket of connections.keys()) socket.destroy();
  await Promise.all([
    new Promise<void>((resolve) => {
      try {
        udp.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    }),
    new Promise<void>((resolve) => tcp.close(() => resolve())),
  ]);
}

function bindError(options: DnsServerOptions & { port: number }, protocol: string, error: unknown): InternalError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? String(error);
  const hint =
    code === 'EACCES'
      ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; set another dns port in config.toml'
      : code === 'EADDRINUSE'
        ? 'another DNS server (dnsmasq, systemd-resolved) already listens there; set another dns port in config.toml'
        : code === 'EADDRNOTAVAIL'
          ? 'the address is not configured on this host yet (is the bridge up?)'
          : undefined;
  return new InternalError('DNS_LISTEN_FAILED', `dns server: cannot listen on ${options.host}:${options.port} (${protocol}): ${code}`, {
    hint,
    cause: error,
  });
}
