// The daemon's link (AgentLinks of @banger/vm) to the guest agent of a Firecracker VM, end to end on this host (no KVM, no
// Firecracker binary here). Everything guest-side is real: the agent bundle runs `--vsock-port 1024`
// and keeps the real banger-vsock-relay (built by native/build.sh) in its test mode, listening on a
// Unix socket in place of vsock port 1024. The one stand-in is Firecracker's vsock UDS multiplexer,
// doing exactly what its docs (docs/vsock.md) and ../shared/firecracker/NOTES.md §6 describe for
// host-initiated connections: the host connects to `uds_path`, writes `CONNECT <port>\n` (keyword
// case-insensitive), reads `OK <host port>\n`, then the stream is the guest port's; when nothing in
// the guest listens on the port, the connection is closed without a word; a snapshot resets the
// transport, closing established connections (guest listeners survive).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processStartTime } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { AgentLinks, type VmRecord } from '@banger/vm';
import { startAgent, type AgentProcess } from './agent-process.js';

const needs = prerequisites(['gcc']);

/** Firecracker's host-side vsock multiplexer for one VM, per its documented protocol. */
class VsockMux {
  readonly server: Server;
  /** Host connections that got `OK`. */
  accepted = 0;
  /** Host connections closed because nothing listened on the port (the guest refused). */
  refused = 0;
  /** Replaces `OK <port>` (a socket that is not Firecracker's). */
  reply?: string;
  private nextHostPort = 1073741824; // the docs' example of the first assigned host port
  private readonly live = new Set<Socket>();

  /** `guestPorts()` maps a vsock port to where the guest listens on it, when it does. */
  constructor(readonly udsPath: string, private readonly guestPorts: () => Map<number, string>) {
    this.server = createServer((host) => this.accept(host));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.udsPath, resolve));
  }

  /** What a snapshot does to the transport: every established connection closes, on both ends. */
  resetTransport(): void {
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  close(): Promise<void> {
    this.resetTransport();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(host: Socket): void {
    host.on('error', () => undefined);
    let line = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      line = Buffer.concat([line, chunk]);
      const nl = line.indexOf(10);
      if (nl < 0) return;
      host.removeListener('data', onData);
      host.pause();
      const command = /^CONNECT ([0-9]+)$/i.exec(line.subarray(0, nl).toString('utf8'));
      const target = command ? this.guestPorts().get(Number(command[1])) : undefined;
      if (!target) return this.refuse(host);
      const guest = createConnection(target);
      guest.once('error', () => this.refuse(host));
      guest.once('connect', () => {
        guest.removeAllListeners('error');
        guest.on('error', () => undefined);
        this.accepted += 1;
        this.live.add(host).add(guest);
        host.write(this.reply ?? `OK ${this.nextHostPort++}\n`);
        const rest = line.subarray(nl + 1);
        if (rest.length > 0) guest.write(rest);
        host.pipe(guest);
        guest.pipe(host);
        host.resume();
        const end = () => {
          host.destroy();
          guest.destroy();
          this.live.delete(host);
          this.live.delete(guest);
        };
        host.once('close', end);
        guest.once('close', end);
      });
    };
    host.on('data', onData);
  }

  private refuse(host: Socket): void {
    this.refused += 1;
    host.destroy();
  }
}

// Each test builds and starts a real agent (esbuild, gcc): seconds on a loaded machine.
describe.skipIf(needs.skip)('the daemon\'s link to the agent of a Firecracker VM (vsock UDS, CONNECT 1024)', { timeout: 90_000 }, () => {
  let dir: string;
  let agent: AgentProcess | undefined;
  let mux: VsockMux;
  let vm: VmRecord;
  let links: AgentLinks;

  beforeEach(async () => {
    needs.assert();
    dir = mkdtempSync(join(tmpdir(), 'banger-fc-link-'));
    mkdirSync(join(dir, 'box'));
    // Port 1024 is where the agent's relay listens once the agent is up; nothing else listens.
    mux = new VsockMux(join(dir, 'box', 'agent.sock'), () => new Map(agent ? [[1024, agent.socket]] : []));
    await mux.listen();
    // This test process stands in for the Firecracker process: alive, with its real start time.
    vm = { id: 'vm_fc', name: 'box', state: 'running', pid: process.pid, pidStartTime: processStartTime(process.pid), spec: { hypervisor: { kind: 'firecracker', accel: 'kvm', binary: 'firecracker', reason: 'test' } } } as unknown as VmRecord;
    links = new AgentLinks('9.9.9');
  });
  afterEach(async () => {
    links.forget(vm.id);
    await mux.close();
    await agent?.stop();
    agent = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('says hello and runs a command: exit code and output come back through CONNECT 1024 and the relay', async () => {
    agent = await startAgent({ vsock: true });
    const client = await links.client(vm, dir, { timeoutMs: 20_000 });
    expect(client.hello.pid).toBe(agent.child.pid);
    expect(links.status(vm)).toMatchObject({ state: 'up', pid: agent.child.pid });
    const result = await links.withClient(vm, dir, { timeoutMs: 20_000 }, (c) => c.run({ argv: ['sh', '-c', 'echo "hello from $0"; echo oops >&2; exit 7', 'guest'] }));
    expect(result.code).toBe(7);
    expect(result.stdout.toString()).toBe('hello from guest\n');
    expect(result.stderr.toString()).toBe('oops\n');
    expect(mux.accepted).toBe(1);
  });

  it('retries while the guest refuses port 1024 (Firecracker closes the connection) until the agent listens', async () => {
    const connecting = links.client(vm, dir, { timeoutMs: 60_000 });
    await sleep(1_500);
    expect(mux.refused).toBeGreaterThanOrEqual(2); // retried, not given up on the first close
    expect(mux.accepted).toBe(0);
    agent = await startAgent({ vsock: true });
    const client = await connecting;
    expect(client.hello.pid).toBe(agent.child.pid);
    expect((await client.run({ argv: ['sh', '-c', 'echo up'] })).stdout.toString()).toBe('up\n');
  });

  it('gives up with the reason when the guest never listens', async () => {
    await expect(links.client(vm, dir, { timeoutMs: 2_000 })).rejects.toMatchObject({
      code: 'AGENT_HELLO_TIMEOUT',
      message: expect.stringContaining('nothing listens on guest port 1024 yet'),
    });
    expect(links.status(vm)).toMatchObject({ state: 'down', reason: expect.stringContaining('nothing listens on guest port 1024') });
  });

  it('fails at once, naming the reply, when the socket answers CONNECT with something other than OK <port>', async () => {
    agent = await startAgent({ vsock: true });
    mux.reply = 'HTTP/1.1 400 Bad Request\n';
    const started = Date.now();
    await expect(links.client(vm, dir, { timeoutMs: 30_000 })).rejects.toMatchObject({
      code: 'AGENT_VSOCK_BAD_REPLY',
      message: expect.stringContaining('CONNECT 1024 was answered "HTTP/1.1 400 Bad Request"'),
    });
    expect(Date.now() - started).toBeLessThan(5_000); // not retried until the timeout
    expect(links.status(vm)).toMatchObject({ state: 'down', reason: expect.stringContaining('HTTP/1.1 400 Bad Request') });
  });

  it('reconnects after a snapshot reset the vsock transport, and the guest\'s relay takes the new connection', async () => {
    agent = await startAgent({ vsock: true });
    const first = await links.client(vm, dir, { timeoutMs: 20_000 });
    expect((await first.run({ argv: ['true'] })).code).toBe(0);
    mux.resetTransport();
    for (let i = 0; i < 100 && !first.closed; i++) await sleep(20);
    expect(links.status(vm)).toMatchObject({ state: 'down', reason: expect.stringContaining('closed') });
    const result = await links.withClient(vm, dir, { timeoutMs: 20_000 }, (c) => c.run({ argv: ['sh', '-c', 'echo again; exit 3'] }));
    expect(result).toMatchObject({ code: 3 });
    expect(result.stdout.toString()).toBe('again\n');
    expect(mux.accepted).toBe(2);
    expect(links.status(vm)).toMatchObject({ state: 'up', pid: agent.child.pid });
  });
});
