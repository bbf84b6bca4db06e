import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serveSession, type GuestFacts, type OpHandlers } from '@banger/agent';
import { processStartTime } from '@banger/host';
import type { VmRecord } from '../vm-record.js';
import { AgentLinks } from './agent-links.js';

/** A facts answer naming which agent session gave it. */
const factsOf = (session: number): GuestFacts => ({
  uptimeSeconds: session,
  load: [0, 0, 0],
  memory: { totalBytes: 1, availableBytes: 1 },
  disk: { path: '/', totalBytes: 1, freeBytes: 1, availableBytes: 1 },
  agent: { version: `session-${session}`, pid: session, rssBytes: 1 },
});

/**
 * A stand-in for QEMU's chardev socket with the real agent session
 * (`serveSession` of @banger/agent) behind it. `restartBehind()` does what a
 * guest agent restart does to a virtio-serial port: the host's connection
 * stays open, but a new session without a hello now reads from it. With
 * `announce` the new session says hello unasked, as the serial agent does.
 */
class FakePort {
  readonly server: Server;
  sessions = 0;
  connections = 0;
  /** Connections whose bytes are swallowed, as a just-restored guest drops the hello that reaches it while it reopens its port. */
  deaf = 0;
  /** New sessions say hello unasked (AgentHello.announce), as the serial agent's do. */
  announce = false;
  /** Facts questions the sessions take and never answer (a session that is about to end). */
  stall = false;
  /** Connections held unread until `openPort()`, as QEMU holds the host's bytes until the guest opens its port. */
  late = false;
  private held?: Socket;
  private current?: { socket: Socket; toAgent: PassThrough; fromAgent: PassThrough };
  private swallowed?: { socket: Socket; toAgent: PassThrough; fromAgent: PassThrough };

  constructor(readonly path: string) {
    this.server = createServer((socket) => {
      this.connections += 1;
      if (this.late) {
        socket.pause();
        socket.on('error', () => undefined);
        this.held = socket;
        return;
      }
      if (this.deaf > 0) {
        this.deaf -= 1;
        socket.on('error', () => undefined);
        socket.resume();
        this.swallowed = { socket, toAgent: new PassThrough(), fromAgent: new PassThrough() };
        return;
      }
      this.attach(socket);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  /** The guest opens its port: a session starts on the held connection and reads what waited there. */
  openPort(): void {
    this.late = false;
    this.attach(this.held!);
  }

  restartBehind(): void {
    const current = this.current ?? this.swallowed!;
    current.socket.unpipe(current.toAgent);
    current.fromAgent.unpipe(current.socket);
    this.attach(current.socket);
  }

  private attach(socket: Socket): void {
    socket.pause();
    socket.removeAllListeners('data');
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    socket.pipe(toAgent);
    fromAgent.pipe(socket);
    socket.on('error', () => undefined);
    const session = (this.sessions += 1);
    const handlers = { facts: (stream) => (this.stall ? undefined : stream.control({ type: 'result', result: factsOf(session) })) } as Partial<OpHandlers> as OpHandlers;
    serveSession(Duplex.from({ readable: toAgent, writable: fromAgent }), { agentVersion: `0.0.${session}`, handlers, announce: this.announce });
    this.current = { socket, toAgent, fromAgent };
  }
}

describe('AgentLinks: one connection per VM, re-opened when the agent restarted behind it', () => {
  let dir: string;
  let port: FakePort;
  let vm: VmRecord;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-links-'));
    mkdirSync(join(dir, 'box'));
    port = new FakePort(join(dir, 'box', 'agent.sock'));
    await port.listen();
    // This test process stands in for the hypervisor: alive, with its real start time.
    vm = { id: 'vm_1', name: 'box', state: 'running', pid: process.pid, pidStartTime: processStartTime(process.pid), spec: { hypervisor: { kind: 'qemu', accel: 'tcg', binary: 'qemu', reason: 'test' } } } as unknown as VmRecord;
  });
  afterEach(() => {
    port.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares one connection between concurrent callers and records the agent as up', async () => {
    const links = new AgentLinks('9.9.9');
    const [a, b] = await Promise.all([links.client(vm, dir, { timeoutMs: 5_000 }), links.client(vm, dir, { timeoutMs: 5_000 })]);
    expect(a).toBe(b);
    expect(port.connections).toBe(1);
    expect(links.status(vm)).toMatchObject({ state: 'up', version: '0.0.1', pid: process.pid });
    links.forget(vm.id);
  });

  it('after a restart behind the connection, reconnects and runs the request once more on the new session', async () => {
    const links = new AgentLinks('9.9.9');
    expect((await links.withClient(vm, dir, { timeoutMs: 5_000 }, (c) => c.facts())).agent.version).toBe('session-1');
    port.restartBehind();
    let calls = 0;
    const facts = await links.withClient(vm, dir, { timeoutMs: 5_000 }, (c) => {
      calls += 1;
      return c.facts();
    });
    // The stale session refused the first try; the retry went to a fresh connection's session.
    expect(calls).toBe(2);
    expect(port.connections).toBe(2);
    expect(facts.agent.version).toBe('session-3');
    expect(links.status(vm)).toMatchObject({ state: 'up', version: '0.0.3' });
    links.forget(vm.id);
  });

  it('reaches a restored agent that dropped the first hello after a short first attempt, not a whole one', async () => {
    port.deaf = 1;
    const links = new AgentLinks('9.9.9');
    const started = Date.now();
    await links.client(vm, dir, { timeoutMs: 30_000, firstAttemptMs: 300 });
    // The default attempt waits 5 s for a hello: a short first attempt and a quick retry are well under that.
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(port.connections).toBe(2);
    expect(links.status(vm)).toMatchObject({ state: 'up' });
    links.forget(vm.id);
  });

  it('fails a request in flight at once with AGENT_RESTARTED when a new session announces itself behind the connection, and the next request reconnects', async () => {
    port.announce = true;
    const links = new AgentLinks('9.9.9');
    const client = await links.client(vm, dir, { timeoutMs: 5_000 });
    port.stall = true;
    const lost = client.facts();
    lost.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    port.stall = false;
    const before = Date.now();
    port.restartBehind();
    await expect(lost).rejects.toMatchObject({ code: 'AGENT_RESTARTED' });
    expect(Date.now() - before).toBeLessThan(1_000);
    expect(links.status(vm)).toMatchObject({ state: 'down' });
    // Not a stale-session retry on the dead connection: a fresh connection, greeted by a fresh session.
    const facts = await links.withClient(vm, dir, { timeoutMs: 5_000 }, (c) => c.facts());
    expect(port.connections).toBe(2);
    expect(facts.agent.version).toBe('session-3');
    links.forget(vm.id);
  });

  it('says hello again when a session announces itself after the hello was lost, instead of waiting out the attempt', async () => {
    port.announce = true;
    port.deaf = 1;
    const links = new AgentLinks('9.9.9');
    const connected = links.client(vm, dir, { timeoutMs: 30_000 });
    // The hello went to a port that dropped it; then the agent opens a session on the same connection.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = Date.now();
    port.restartBehind();
    const client = await connected;
    // The default attempt waits 5 s for a hello; the announce makes it one round trip.
    expect(Date.now() - before).toBeLessThan(1_000);
    expect(port.connections).toBe(1);
    expect(client.hello.agentVersion).toBe('0.0.1');
    expect((await client.facts()).agent.version).toBe('session-1');
    links.forget(vm.id);
  });

  it('keeps one connection through a fresh boot whose agent opens its port after the usual 5 s attempt, and the held hello is answered', async () => {
    port.late = true;
    port.announce = true;
    const links = new AgentLinks('9.9.9');
    const connected = links.client(vm, dir, { timeoutMs: 30_000, freshBoot: true });
    await new Promise((resolve) => setTimeout(resolve, 5_600));
    port.openPort();
    const client = await connected;
    expect(port.connections).toBe(1);
    expect((await client.facts()).agent.version).toBe('session-1');
    links.forget(vm.id);
  }, 15_000);

  it('without a fresh boot, drops a silent connection after the 5 s attempt and connects anew', async () => {
    port.late = true;
    const links = new AgentLinks('9.9.9');
    const connected = links.client(vm, dir, { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 5_600));
    expect(port.connections).toBe(2);
    port.openPort();
    await connected;
    links.forget(vm.id);
  }, 15_000);

  it('ends a fresh boot\'s waiting hello at once when the caller cancels the wait', async () => {
    port.late = true;
    const links = new AgentLinks('9.9.9');
    const stop = new AbortController();
    const connected = links.client(vm, dir, { timeoutMs: 30_000, freshBoot: true, signal: stop.signal });
    connected.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = Date.now();
    stop.abort();
    await expect(connected).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - before).toBeLessThan(1_000);
  });

  it('gives up after the timeout with the last error, and records why the agent is down', async () => {
    port.server.close();
    const links = new AgentLinks('9.9.9');
    await expect(links.client(vm, dir, { timeoutMs: 1_500 })).rejects.toMatchObject({ code: 'AGENT_HELLO_TIMEOUT', message: expect.stringContaining('no hello within 2 s') });
    expect(links.status(vm)).toMatchObject({ state: 'down', reason: expect.stringContaining('no hello within 2 s (last: connecting to') });
  });

  it('refuses a VM whose hypervisor process is gone', async () => {
    const links = new AgentLinks('9.9.9');
    await expect(links.client({ ...vm, pidStartTime: 'not-this-boot' } as VmRecord, dir, { timeoutMs: 1_000 })).rejects.toMatchObject({ code: 'VM_NOT_RUNNING' });
  });
});
