import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiServer } from './index.js';

let dir: string;
let servers: ApiServer[] = [];
let sockets: Socket[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-api-limits-'));
});
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) await server.close({ graceMs: 100 });
  servers = [];
  sockets = [];
  rmSync(dir, { recursive: true, force: true });
});

/** A server answering `hello`, counting the calls it served. */
async function serve(options: ConstructorParameters<typeof ApiServer>[0]): Promise<{ path: string; served: () => number }> {
  const path = join(dir, `s${servers.length}.sock`);
  const server = new ApiServer(options);
  let served = 0;
  server.handle('hello', () => {
    served += 1;
    return { daemonVersion: 'x'.repeat(64), protocolVersion: 1, pid: process.pid };
  });
  await server.listen(path);
  servers.push(server);
  return { path, served: () => served };
}

async function rawConnect(path: string): Promise<Socket> {
  const socket = connect(path);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

const helloLines = (from: number, count: number): string =>
  Array.from({ length: count }, (_, i) => JSON.stringify({ id: from + i, method: 'hello', params: { clientVersion: '1', protocolVersion: 1 } })).join('\n') + '\n';

describe('what one client can make the daemon hold', () => {
  it('refuses a connection over the limit with one line saying so, and keeps serving the others', async () => {
    const { path } = await serve({ maxConnections: 2 });
    const first = await ApiClient.connect(path);
    const second = await ApiClient.connect(path);
    const third = await rawConnect(path);
    let text = '';
    third.on('data', (d: Buffer) => (text += d.toString()));
    await new Promise<void>((resolve) => third.once('close', () => resolve()));
    const reply = JSON.parse(text.trim()) as { error: { code: string; message: string } };
    expect(reply.error.code).toBe('API_TOO_MANY_CONNECTIONS');
    expect(reply.error.message).toMatch(/already serves 2 connections/);
    await expect(first.call('hello', { clientVersion: '1', protocolVersion: 1 })).resolves.toMatchObject({ protocolVersion: 1 });
    await expect(second.call('hello', { clientVersion: '1', protocolVersion: 1 })).resolves.toMatchObject({ protocolVersion: 1 });
    first.close();
    second.close();
  });

  it('stops reading the requests of a client that leaves its replies unread, and answers every one once it reads', async () => {
    const { path, served } = await serve({ pauseBytes: 64 * 1024 });
    const socket = await rawConnect(path);
    socket.pause(); // the client reads nothing for now
    const total = 20_000;
    socket.write(helloLines(1, total));
    await new Promise((r) => setTimeout(r, 1_000));
    const whileUnread = served();
    expect(whileUnread).toBeGreaterThan(0);
    expect(whileUnread).toBeLessThan(total / 2);
    // Reading now: the daemon resumes and every request gets its reply.
    let received = 0;
    let buffered = '';
    const all = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        received += lines.length;
        if (received >= total) resolve();
      });
    });
    socket.resume();
    await all;
    expect(served()).toBe(total);
  }, 30_000);

  it('drops a connection whose unread replies pass the bound', async () => {
    const { path, served } = await serve({ pauseBytes: 1024 ** 3, dropBytes: 128 * 1024 });
    const socket = await rawConnect(path);
    socket.pause();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(helloLines(1, 20_000));
    await closed;
    expect(served()).toBeLessThan(20_000);
    // The daemon itself is fine: a new client is served.
    const client = await ApiClient.connect(path);
    await expect(client.call('hello', { clientVersion: '1', protocolVersion: 1 })).resolves.toMatchObject({ protocolVersion: 1 });
    client.close();
  }, 30_000);
});

describe('the log of requests that fail on the caller\'s side', () => {
  it('keeps one short line per failure, without a stack, and summarises a flood', async () => {
    const lines: Array<{ fields: Record<string, unknown>; msg?: string }> = [];
    const capture = { debug() {}, error() {}, warn() {}, info: (fields: object, msg?: string) => void lines.push({ fields: fields as Record<string, unknown>, ...(msg !== undefined ? { msg } : {}) }) };
    const { path } = await serve({ log: capture });
    const socket = await rawConnect(path);
    let received = 0;
    let buffered = '';
    const total = 1_000;
    const all = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        buffered += d.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        received += parts.length;
        if (received >= total) resolve();
      });
    });
    // Params that fail validation: a UserError for each, as a script with a bug would send.
    socket.write(Array.from({ length: total }, (_, i) => JSON.stringify({ id: i + 1, method: 'hello', params: { clientVersion: 7 } })).join('\n') + '\n');
    await all;
    const failed = lines.filter((l) => l.msg === 'request failed');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThan(100);
    expect(failed[0]!.fields).toMatchObject({ method: 'hello', code: 'API_INVALID_PARAMS' });
    expect(JSON.stringify(failed)).not.toMatch(/stack|    at /);
    // One second later the next failure gets through and says how many were left out.
    await new Promise((r) => setTimeout(r, 1_100));
    socket.write(`${JSON.stringify({ id: total + 1, method: 'hello', params: { clientVersion: 7 } })}\n`);
    await expect.poll(() => lines.filter((l) => l.msg === 'request failed').length).toBe(failed.length + 1);
    const summary = lines.filter((l) => l.msg === 'request failed').at(-1)!.fields;
    expect(summary['suppressed']).toBe(total - failed.length);
  }, 30_000);
});
