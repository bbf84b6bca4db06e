import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, readServerEnvelope, serverEnvelopeSchema } from './index.js';

let dir: string;
let socketPath: string;
let server: Server;
/** What the stand-in daemon answers to each request: a function of the request's id and method. */
let answer: (request: { id: number; method: string }) => unknown[];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'banger-client-'));
  socketPath = join(dir, 's.sock');
  // A daemon that answers whatever the test says, including what a real ApiServer never would.
  server = createServer((socket) => {
    let buffer = '';
    socket.on('data', (data) => {
      buffer += data.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const request = JSON.parse(buffer.slice(0, nl)) as { id: number; method: string };
        buffer = buffer.slice(nl + 1);
        for (const reply of answer(request)) socket.write(`${JSON.stringify(reply)}\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
});

afterEach(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('results from a daemon of the same build', () => {
  const offSchema = ({ id, method }: { id: number; method: string }) =>
    method === 'hello' ? [{ id, result: { daemonVersion: 7 } }] : [{ id, result: ['a', 42] }];

  it('are checked against the method schema until the client is told to trust them', async () => {
    answer = offSchema;
    const client = await ApiClient.connect(socketPath);
    try {
      await expect(client.call('complete.names', { kind: 'vm' })).rejects.toMatchObject({ code: 'API_INVALID_RESULT' });
      client.trustResults();
      // The daemon checks its results with these very schemas before sending: a trusting client takes them as they come.
      await expect(client.call('complete.names', { kind: 'vm' })).resolves.toEqual(['a', 42]);
    } finally {
      client.close();
    }
  });

  it("never skip the check of hello, which is how the client learns the daemon's version", async () => {
    answer = offSchema;
    const client = await ApiClient.connect(socketPath);
    try {
      client.trustResults();
      await expect(client.call('hello', { clientVersion: '1.0.0' })).rejects.toMatchObject({ code: 'API_INVALID_RESULT' });
    } finally {
      client.close();
    }
  });
});

describe('reading a reply envelope without building the schema', () => {
  const corpus: unknown[] = [
    { id: 1, result: [] },
    { id: 'a', result: null },
    { id: 1, event: { step: 'x' } },
    { id: 'x'.repeat(200), result: 1 },
    { id: 'x'.repeat(201), result: 1 },
    { id: '', result: 1 },
    { id: 1.5, result: 1 },
    { id: Number.MAX_SAFE_INTEGER + 2, result: 1 },
    { id: null, result: 1 },
    { id: 1, result: 1, extra: true },
    { id: 1, event: 1, result: 2 },
    { id: 1 },
    { result: 1 },
    { id: 1, error: { code: 'VM_NOT_FOUND', message: 'vm "x" not found', exitCode: 1 } },
    { id: null, error: { code: 'X', message: 'm', exitCode: 125 } },
    { id: 1, error: 'boom' },
    [1, 2],
    'result',
    null,
    42,
    { id: 1, nope: 1 },
  ];

  it.each(corpus.map((value) => [JSON.stringify(value).slice(0, 60), value]))('accepts and rejects %s as the schema does', (_name, value) => {
    const bySchema = serverEnvelopeSchema.safeParse(value);
    let read: { ok: true; value: unknown } | { ok: false };
    try {
      read = { ok: true, value: readServerEnvelope(value) };
    } catch {
      read = { ok: false };
    }
    expect(read).toEqual(bySchema.success ? { ok: true, value: bySchema.data } : { ok: false });
  });
});
