import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import { InternalError } from '@banger/errors';
import { answerQuery, MAX_QUERY_BYTES, type VmLookup } from './zone.js';

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
}

/** A running `.vm` DNS server. */
export interface DnsServer {
  address: string;
  port: number;
  /** Stops listening on UDP and TCP and drops open TCP connections. */
  close(): Promise<void>;
}

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 64;

/**
 * Starts the authoritative DNS server for the `vm.` zone on UDP and TCP
 * (RFC 1035 2-byte length framing, several queries per connection). See
 * answerQuery for what is answered; malformed, truncated and oversized input
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
  const answer = (query: Buffer): Buffer | undefined => {
    try {
      return answerQuery(query, zone);
    } catch (error) {
      onError(error as Error);
      return undefined;
    }
  };

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
    const connections = new Set<Socket>();
    const tcp = createServer((socket) => serveTcp(socket, connections, answer));
    tcp.maxConnections = TCP_MAX_CONNECTIONS;
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
    udp.on('message', (query, peer) => {
      const response = answer(query);
      if (response) udp.send(response, peer.port, peer.address, (error) => error && onError(error));
    });
    udp.on('error', onError);
    tcp.on('error', onError);
    return { address: options.host, port, close: () => closeAll(udp, tcp, connections) };
  }
  throw bindError(options, 'TCP', lastError);
}

function serveTcp(socket: Socket, connections: Set<Socket>, answer: (query: Buffer) => Buffer | undefined): void {
  connections.add(socket);
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on('close', () => connections.delete(socket));
  socket.on('error', () => socket.destroy());
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 2) {
      const length = pending.readUInt16BE(0);
      // A client announcing a huge or empty message is not speaking DNS to us: hang up instead of buffering.
      if (length < 12 || length > MAX_QUERY_BYTES) {
        socket.destroy();
        return;
      }
      if (pending.length < 2 + length) return;
      const response = answer(pending.subarray(2, 2 + length));
      pending = pending.subarray(2 + length);
      if (!response) {
        socket.destroy();
        return;
      }
      const framed = Buffer.alloc(2 + response.length);
      framed.writeUInt16BE(response.length, 0);
      response.copy(framed, 2);
      socket.write(framed);
    }
  });
}

async function closeAll(udp: UdpSocket, tcp: TcpServer, connections: Set<Socket>): Promise<void> {
  for (const socket of connections) socket.destroy();
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
