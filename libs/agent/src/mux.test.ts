import { createServer, createConnection, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Mux, type MuxStream } from './mux.js';
import { INITIAL_WINDOW } from './protocol.js';

/** Two Muxes over a real Unix socket pair. */
async function pair(): Promise<{ host: Mux; agent: Mux; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'banger-mux-'));
  const path = join(dir, 's');
  const accepted = new Promise<Socket>((resolve) => {
    const server = createServer((s) => {
      server.close();
      resolve(s);
    }).listen(path);
  });
  const client = createConnection(path);
  const host = new Mux(client, { role: 'host' });
  const agent = new Mux(await accepted, { role: 'agent' });
  return { host, agent, close: () => (host.destroy(), agent.destroy(), rmSync(dir, { recursive: true, force: true })) };
}

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('the multiplexer', () => {
  let close = () => {};
  afterEach(() => close());

  it('stops a sender at its credit while the receiver does not read, and resumes as it drains', async () => {
    const p = await pair();
    close = p.close;
    const opened = new Promise<MuxStream>((resolve) => p.agent.once('open', resolve));
    const hostStream = p.host.open({ op: 'facts' });
    const agentStream = await opened;
    const out = agentStream.output(1);
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 1);
    const pump = () => {
      while (written < 8 * INITIAL_WINDOW && out.write(chunk)) written += chunk.length;
    };
    out.on('drain', () => {
      written += chunk.length;
      pump();
    });
    pump();
    await tick(200);
    const input = hostStream.input(1);
    // Nothing read yet: the host holds at most one window, the agent at most its writable buffer beyond it.
    expect(input.pending).toBeLessThanOrEqual(INITIAL_WINDOW);
    expect(out.writableLength).toBeLessThanOrEqual(2 * chunk.length);
    let received = 0;
    input.on('data', (c: Buffer) => (received += c.length));
    await tick(300);
    expect(received).toBeGreaterThan(INITIAL_WINDOW);
  });

  it('keeps a second stream flowing while the first is stalled', async () => {
    const p = await pair();
    close = p.close;
    const streams: MuxStream[] = [];
    p.agent.on('open', (s: MuxStream) => streams.push(s));
    const stalled = p.host.open({ op: 'facts' });
    const flowing = p.host.open({ op: 'facts' });
    await tick();
    streams[0]!.output(1).write(Buffer.alloc(4 * INITIAL_WINDOW));
    streams[1]!.output(1).end(Buffer.from('through'));
    const chunks: Buffer[] = [];
    for await (const c of flowing.input(1)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('through');
    await tick(200);
    expect(stalled.input(1).pending).toBe(INITIAL_WINDOW);
  });

  it('ends the connection when a peer sends more than its credit', async () => {
    const p = await pair();
    close = p.close;
    const errors: Error[] = [];
    p.agent.on('protocol-error', (e: Error) => errors.push(e));
    p.agent.once('open', () => undefined);
    const s = p.host.open({ op: 'facts' });
    await tick();
    // Bypass the credit check of the sending side.
    for (let i = 0; i < 5; i++) p.host.write(3, s.id, Buffer.alloc(64 * 1024), Buffer.of(0));
    await tick(200);
    expect(errors.map((e) => (e as { code?: string }).code)).toEqual(['AGENT_PROTOCOL_ERROR']);
    expect(p.agent.isClosed).toBe(true);
  });
});
