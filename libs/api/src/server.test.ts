import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, NotFoundError } from '@banger/errors';
import { ApiClient, ApiServer, DaemonNotRunningError, MAX_LINE_BYTES } from './index.js';

let dir: string;
let socketPath: string;
let server: ApiServer;
const sockets: Socket[] = [];

/** A raw client speaking bytes, to send what the typed client never would. */
async function raw(): Promise<{ socket: Socket; lines: () => Promise<unknown[]>; next: () => Promise<unknown>; closed: Promise<void> }> {
  const socket = connect(socketPath);
  sockets.push(socket);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const received: unknown[] = [];
  let waiters: Array<() => void> = [];
  let buffer = '';
  socket.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      received.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
    waiters.forEach((w) => w());
    waiters = [];
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  let read = 0;
  const next = async (): Promise<unknown> => {
    while (received.length <= read) await new Promise<void>((r) => waiters.push(r));
    return received[read++];
  };
  return { socket, lines: async () => received, next, closed };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-api-'));
  socketPath = join(dir, 's.sock');
  server = new ApiServer();
  server.handle('hello', (params) => ({ daemonVersion: `echo-${params.clientVersion}`, protocolVersion: 1, pid: process.pid }));
  server.handle('complete.names', async (params, ctx) => {
    if (params.kind === 'image') throw new NotFoundError('IMAGE_NOT_FOUND', 'image "x" not found', { hint: 'pull it' });
    if (params.kind === 'session') {
      // Streams events until cancelled: stands in for a long operation.
      for (let i = 0; ; i++) {
        ctx.emit({ step: i });
        await new Promise((r) => setTimeout(r, 20));
        if (ctx.signal.aborted) throw ctx.signal.reason;
      }
    }
    ctx.emit({ note: 'listing' });
    return ['a', 'b'];
  });
  await server.listen(socketPath);
});

afterEach(async () => {
  sockets.forEach((s) => s.destroy());
  await server.close({ graceMs: 100 });
  rmSync(dir, { recursive: true, force: true });
});

describe('ApiServer and ApiClient', () => {
  it('answers a typed call and streams its events before the result', async () => {
    const client = await ApiClient.connect(socketPath);
    const events: unknown[] = [];
    expect(await client.call('hello', { clientVersion: '9' })).toEqual({ daemonVersion: 'echo-9', protocolVersion: 1, pid: process.pid });
    expect(await client.call('complete.names', { kind: 'vm' }, { onEvent: (e) => events.push(e) })).toEqual(['a', 'b']);
    expect(events).toEqual([{ note: 'listing' }]);
    client.close();
  });

  it('is quiet (for background work) only once no request has been in flight for the given time, or when the wait is capped', async () => {
    const client = await ApiClient.connect(socketPath);
    const controller = new AbortController();
    // A long call in flight: the session kind streams until cancelled.
    const call = client.call('complete.names', { kind: 'session' }, { signal: controller.signal }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.requestsInFlight()).toBe(1);
    let quiet = false;
    const waiting = server.whenQuiet(300, 10_000).then(() => (quiet = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(quiet).toBe(false);
    const ended = Date.now();
    controller.abort();
    await call;
    await waiting;
    expect(Date.now() - ended).toBeGreaterThanOrEqual(300);
    // With the call never ending, the cap lets the waiter go.
    const again = new AbortController();
    const endless = client.call('complete.names', { kind: 'session' }, { signal: again.signal }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const capped = Date.now();
    await server.whenQuiet(300, 400);
    expect(Date.now() - capped).toBeGreaterThanOrEqual(390);
    again.abort();
    await endless;
    client.close();
  });

  it('rebuilds the handler error as the same typed error with its hint', async () => {
    const client = await ApiClient.connect(socketPath);
    const error = await client.call('complete.names', { kind: 'image' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'IMAGE_NOT_FOUND', message: 'image "x" not found', hint: 'pull it', exitCode: 1 });
    client.close();
  });

  it('replies with an id-less error to garbage and keeps serving the same connection', async () => {
    const c = await raw();
    c.socket.write('this is not json\n');
    expect(await c.next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_INVALID_JSON', exitCode: 1 } });
    c.socket.write('{"id":1,"method":"hello","params":{"clientVersion":"x"}}\n');
    expect(await c.next()).toMatchObject({ id: 1, result: { daemonVersion: 'echo-x' } });
  });

  it('rejects a malformed envelope, an unknown method and bad params, naming what is wrong', async () => {
    const c = await raw();
    c.socket.write('{"method":"hello"}\n');
    expect(await c.next()).toMatchObject({ id: null, error: { code: 'PROTOCOL_INVALID_ENVELOPE' } });
    c.socket.write('{"id":"a","method":"vm.explode","params":{}}\n');
    expect(await c.next()).toMatchObject({ id: 'a', error: { code: 'API_UNKNOWN_METHOD', message: 'unknown method "vm.explode"' } });
    c.socket.write('{"id":"b","method":"complete.names","params":{"kind":"planet"}}\n');
    const reply = (await c.next()) as { id: string; error: { code: string; message: string } };
    expect(reply).toMatchObject({ id: 'b', error: { code: 'API_INVALID_PARAMS' } });
    expect(reply.error.message).toMatch(/^complete\.names: kind is invalid: /);
  });

  it('answers an oversized line with an error carrying its id, closes that connection, and still serves another client', async () => {
    const c = await raw();
    c.socket.write(`{"id":42,"method":"hello","params":{"clientVersion":"${'x'.repeat(MAX_LINE_BYTES + 10)}"}}\n`);
    expect(await c.next()).toMatchObject({ id: 42, error: { code: 'PROTOCOL_LINE_TOO_LONG' } });
    await c.closed;
    const other = await ApiClient.connect(socketPath);
    expect(await other.call('hello', { clientVersion: 'ok' })).toMatchObject({ daemonVersion: 'echo-ok' });
    other.close();
  });

  it('cancels a running call: the handler sees the abort and the caller gets a CancelledError', async () => {
    const client = await ApiClient.connect(socketPath);
    const controller = new AbortController();
    let events = 0;
    const call = client.call('complete.names', { kind: 'session' }, {
      signal: controller.signal,
      onEvent: () => {
        if (++events === 2) controller.abort();
      },
    });
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.inFlightCount).toBe(0);
    // The connection stays usable after a cancel.
    expect(await client.call('hello', { clientVersion: 'again' })).toMatchObject({ daemonVersion: 'echo-again' });
    client.close();
  });

  it('aborts the calls of a client that disconnects', async () => {
    const c = await raw();
    c.socket.write('{"id":7,"method":"complete.names","params":{"kind":"session"}}\n');
    await c.next();
    expect(server.inFlightCount).toBe(1);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 150));
    expect(server.inFlightCount).toBe(0);
  });

  it('sends a raw cancel envelope and gets the cancelled error for that id', async () => {
    const c = await raw();
    c.socket.write('{"id":"long","method":"complete.names","params":{"kind":"session"}}\n');
    await c.next();
    c.socket.write('{"id":"long","cancel":true}\n');
    let reply: { id: string; error?: { code: string } };
    do reply = (await c.next()) as typeof reply;
    while (!reply.error);
    expect(reply).toMatchObject({ id: 'long', error: { code: 'CANCELLED', exitCode: 130 } });
  });

  it('refuses new calls while closing and aborts the ones that outlive the grace period', async () => {
    const client = await ApiClient.connect(socketPath);
    const long = client.call('complete.names', { kind: 'session' }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close({ graceMs: 300, reason: 'test stop' });
    await expect(client.call('hello', { clientVersion: 'late' })).rejects.toMatchObject({ code: 'DAEMON_STOPPING', message: 'test stop' });
    await closing;
    expect(await long).toMatchObject({ code: 'CANCELLED', message: 'test stop' });
  });

  it('times out a call that gets no answer', async () => {
    const client = await ApiClient.connect(socketPath);
    await expect(client.call('complete.names', { kind: 'session' }, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'DAEMON_TIMEOUT' });
    client.close();
  });

  it('reports a missing socket as a not-running daemon', async () => {
    await expect(ApiClient.connect(join(dir, 'nope.sock'))).rejects.toBeInstanceOf(DaemonNotRunningError);
  });
});

describe('bad parameters from the CLI', () => {
  it('are a user error (exit 1) naming the parameter, before anything is sent', async () => {
    // No socket needed: parameters are checked before anything is sent.
    const client = Object.create(ApiClient.prototype) as ApiClient;
    const error = await client.call('vm.show', { name: '' }).catch((e: unknown) => e as import('@banger/errors').BangerError);
    expect(error).toMatchObject({ code: 'API_INVALID_PARAMS', exitCode: 1, message: 'vm.show: name must not be empty' });
    const long = await client.call('vm.show', { name: 'x'.repeat(300) }).catch((e: unknown) => e as import('@banger/errors').BangerError);
    expect(long).toMatchObject({ code: 'API_INVALID_PARAMS', exitCode: 1, message: expect.stringMatching(/^vm\.show: name must be at most \d+ characters$/) });
  });
});

describe('call input ({"id","input"})', () => {
  it("reaches the handler's input stream byte-exact, in order, ending on null; acknowledged chunks flow back as events", async () => {
    server.handle('vm.exec', async (_params, ctx) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.input) {
        chunks.push(chunk as Buffer);
        ctx.emit({ ack: (chunk as Buffer).length });
        await ctx.drained();
      }
      const all = Buffer.concat(chunks);
      ctx.emit({ stdout: all.toString('base64') });
      return { code: 0, signal: null, exitStatus: all.length };
    });
    const client = await ApiClient.connect(socketPath);
    try {
      const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256));
      let acked = 0;
      let echoed = Buffer.alloc(0);
      const result = await client.call('vm.exec', { name: 'x', argv: ['cat'] }, {
        onEvent: (event) => {
          if ('ack' in event) acked += event.ack;
          if ('stdout' in event) echoed = Buffer.from(event.stdout, 'base64');
        },
        onSendInput: (send) => {
          for (let at = 0; at < data.length; at += 65_536) send(data.subarray(at, at + 65_536));
          send(null);
        },
      });
      expect(result).toEqual({ code: 0, signal: null, exitStatus: 300_000 });
      expect(acked).toBe(300_000);
      expect(echoed.equals(data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('ignores input for a call that is not in flight (a late chunk), serving the connection on', async () => {
    const { socket, next } = await raw();
    socket.write(`${JSON.stringify({ id: 9, input: Buffer.from('late').toString('base64') })}\n${JSON.stringify({ id: 10, method: 'hello', params: { clientVersion: '1' } })}\n`);
    expect(await next()).toMatchObject({ id: 10, result: { daemonVersion: 'echo-1' } });
  });
});

describe('call control ({"id","control"})', () => {
  it("reaches the handler's onControl checked by the method's schema; a message the method does not take is ignored", async () => {
    const seen: unknown[] = [];
    server.handle('vm.exec', async (_params, ctx) => {
      ctx.onControl((message) => seen.push(message));
      for await (const chunk of ctx.input) ctx.emit({ ack: (chunk as Buffer).length });
      return { code: 0, signal: null, exitStatus: 0 };
    });
    const { socket, next } = await raw();
    socket.write(`${JSON.stringify({ id: 1, method: 'vm.exec', params: { name: 'x', argv: ['sh'], tty: { cols: 80, rows: 24 } } })}\n`);
    await new Promise((r) => setTimeout(r, 100));
    socket.write(`${JSON.stringify({ id: 1, control: { resize: { cols: 0, rows: 5 } } })}\n`);
    socket.write(`${JSON.stringify({ id: 1, control: { resize: { cols: 132, rows: 50 } } })}\n`);
    socket.write(`${JSON.stringify({ id: 7, control: { resize: { cols: 1, rows: 1 } } })}\n`); // no such call: ignored
    socket.write(`${JSON.stringify({ id: 1, input: null })}\n`);
    expect(await next()).toMatchObject({ id: 1, result: { code: 0, exitStatus: 0 } });
    expect(seen).toEqual([{ resize: { cols: 132, rows: 50 } }]);
  });

  it('is sent by the client through onSendControl', async () => {
    let got: unknown;
    server.handle('vm.exec', async (_params, ctx) => {
      await new Promise<void>((resolve) => ctx.onControl((message) => { got = message; resolve(); }));
      return { code: 0, signal: null, exitStatus: 0 };
    });
    const client = await ApiClient.connect(socketPath);
    try {
      await client.call('vm.exec', { name: 'x', argv: ['sh'], tty: { cols: 80, rows: 24 } }, { onSendControl: (send) => send({ resize: { cols: 100, rows: 40 } }) });
      expect(got).toEqual({ resize: { cols: 100, rows: 40 } });
    } finally {
      client.close();
    }
  });
});

describe('call input beyond what the handler consumed', () => {
  it('aborts the call with API_INPUT_OVERFLOW instead of buffering without bound', async () => {
    server.handle('vm.exec', async (_params, ctx) => {
      // Never reads its input.
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      throw ctx.signal.reason;
    });
    const client = await ApiClient.connect(socketPath);
    try {
      const chunk = Buffer.alloc(512 * 1024, 1);
      const call = client.call('vm.exec', { name: 'x', argv: ['cat'] }, { onSendInput: (send) => { for (let i = 0; i < 40; i += 1) send(chunk); } });
      await expect(call).rejects.toMatchObject({ code: 'API_INPUT_OVERFLOW' });
    } finally {
      client.close();
    }
  });
});
