import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectFirecrackerVsock, parseVsockConnectReply } from './firecracker-vsock.js';

describe('parseVsockConnectReply: Firecracker\'s answer to CONNECT, taken strictly', () => {
  it('takes "OK <host port>" and returns the port (the docs\' example: OK 1073741824)', () => {
    expect(parseVsockConnectReply('OK 1073741824')).toBe(1073741824);
    expect(parseVsockConnectReply('OK 0')).toBe(0);
    expect(parseVsockConnectReply('OK 4294967295')).toBe(4294967295);
  });

  it('rejects anything else: other words, case, spacing, a carriage return, a port beyond u32', () => {
    for (const line of ['', 'OK', 'OK ', 'ok 5', 'OK  5', ' OK 5', 'OK 5 ', 'OK 5\r', 'OK -5', 'OK 5x', 'OK 4294967296', 'OK 12345678901', 'ERR 5', 'HTTP/1.1 400 Bad Request']) {
      expect({ line, port: parseVsockConnectReply(line) }).toEqual({ line, port: undefined });
    }
  });
});

describe('connectFirecrackerVsock: one handshake attempt on the vsock UDS', () => {
  let dir: string;
  let server: Server;
  let onConnection: (socket: Socket, request: string) => void;
  const uds = () => join(dir, 'v.sock');

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-vsock-'));
    server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', (d: Buffer) => onConnection(socket, d.toString()));
    });
    await new Promise<void>((ok) => server.listen(uds(), ok));
  });
  afterEach(async () => {
    await new Promise<void>((ok) => server.close(() => ok()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends CONNECT <port>\\n and hands on guest bytes that came in the same packet as OK', async () => {
    let request = '';
    onConnection = (socket, line) => {
      request = line;
      socket.write('OK 1073741824\nfirst guest bytes');
    };
    const socket = await connectFirecrackerVsock(uds(), 1024, { timeoutMs: 2_000 });
    const data = await new Promise<string>((ok) => socket.once('data', (d: Buffer) => ok(d.toString())));
    socket.destroy();
    expect(request).toBe('CONNECT 1024\n');
    expect(data).toBe('first guest bytes');
  });

  it('a close without a reply is AGENT_NOT_LISTENING; silence is AGENT_CONNECT_TIMEOUT after the attempt\'s bound', async () => {
    onConnection = (socket) => socket.destroy();
    await expect(connectFirecrackerVsock(uds(), 1024, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'AGENT_NOT_LISTENING' });
    onConnection = () => undefined;
    const started = Date.now();
    await expect(connectFirecrackerVsock(uds(), 1024, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'AGENT_CONNECT_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a reply with no newline that runs on is AGENT_VSOCK_BAD_REPLY, not a wait for the timeout', async () => {
    onConnection = (socket) => socket.write('x'.repeat(200));
    await expect(connectFirecrackerVsock(uds(), 1024, { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'AGENT_VSOCK_BAD_REPLY' });
  });
});
