// banger-vsock-relay, the guest end of Firecracker's vsock channel, run directly on the host (no VM):
// the real binary, built by native/build.sh as `nx build` builds it, in its test mode (--listen-unix
// instead of --vsock-port: the same relay code, only the listening socket's family differs; this host
// has no vsock transport). The "agent" is a Unix socket server in this test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';

const needs = prerequisites(['gcc']);
const buildScript = resolve(import.meta.dirname, '../native/build.sh');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(needs.skip)(`banger-vsock-relay${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-relay-'));
  const relayBin = join(dir, 'banger-vsock-relay');
  const front = join(dir, 'front.sock'); // where the host side connects (vsock port 1024 in a guest)
  const back = join(dir, 'agent.sock'); // where the agent listens
  let relay: ChildProcess | undefined;
  let agent: Server | undefined;
  const agentConnections: Socket[] = [];
  let onAgentConnection: (socket: Socket) => void = () => undefined;

  beforeAll(() => {
    needs.assert();
    const built = spawnSync('sh', [buildScript, relayBin], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
  });
  afterEach(async () => {
    relay?.kill('SIGKILL');
    relay = undefined;
    for (const s of agentConnections.splice(0)) s.destroy();
    await new Promise<void>((done) => (agent ? agent.close(() => done()) : done()));
    agent = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function startAgent(): Promise<void> {
    agent = createServer({ allowHalfOpen: true }, (socket) => {
      agentConnections.push(socket);
      socket.on('error', () => undefined); // a peer that dies is what some tests do
      onAgentConnection(socket);
    });
    await new Promise<void>((done) => agent!.listen(back, done));
  }

  async function startRelay(): Promise<ChildProcess> {
    rmSync(front, { force: true }); // a killed relay's socket file stays
    relay = spawn(relayBin, ['--listen-unix', front, '--connect-unix', back], { stdio: ['ignore', 'ignore', 'pipe'] });
    // The file appears at bind(), before listen(): wait for the listening socket itself (a probe
    // connection would reach the agent and count as the host's connection), or a loaded host refuses.
    for (let i = 0; i < 250 && !listening(front); i++) await sleep(20);
    expect(listening(front)).toBe(true);
    return relay;
  }

  /** Whether a Unix socket at `path` is listening: /proc/net/unix flags __SO_ACCEPTCON (0x10000). */
  const listening = (path: string): boolean =>
    readFileSync('/proc/net/unix', 'utf8')
      .split('\n')
      .some((line) => {
        const cols = line.trim().split(/\s+/);
        return cols[7] === path && (parseInt(cols[3] ?? '0', 16) & 0x10000) !== 0;
      });

  const connect = () =>
    new Promise<Socket>((done, fail) => {
      const socket = createConnection({ path: front, allowHalfOpen: true });
      socket.once('connect', () => {
        socket.on('error', () => undefined); // EPIPE/ECONNRESET when the relay closes: the tests look at the data and the end
        done(socket);
      });
      socket.once('error', fail);
    });

  /** Everything a socket reads until EOF (or close), and how it ended. */
  const readAll = (socket: Socket) =>
    new Promise<{ data: Buffer; ended: 'eof' | 'closed' }>((done) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.once('end', () => done({ data: Buffer.concat(chunks), ended: 'eof' }));
      socket.once('close', () => done({ data: Buffer.concat(chunks), ended: 'closed' }));
      socket.on('error', () => undefined);
    });

  const cpuTicks = (pid: number) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  };
  const peakRssKib = (pid: number) => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

  it('relays MiBs both ways at once byte-exact (sha256), and passes each EOF on as a half-close', async () => {
    await startAgent();
    await startRelay();
    const toAgent = randomBytes(5 * 2 ** 20 + 123);
    const toHost = randomBytes(3 * 2 ** 20 + 7);
    const agentSide = new Promise<{ data: Buffer; ended: string }>((done) => {
      onAgentConnection = (socket) => {
        void readAll(socket).then(done);
        // The agent keeps writing after the host's EOF: half-close, not a hang-up.
        socket.end(toHost);
      };
    });
    const host = await connect();
    const hostSide = readAll(host);
    host.end(toAgent);
    const [atAgent, atHost] = await Promise.all([agentSide, hostSide]);
    expect(atAgent.ended).toBe('eof');
    expect(atHost.ended).toBe('eof');
    expect(atAgent.data.length).toBe(toAgent.length);
    expect(sha(atAgent.data)).toBe(sha(toAgent));
    expect(atHost.data.length).toBe(toHost.length);
    expect(sha(atHost.data)).toBe(sha(toHost));
  });

  it('keeps its memory bounded against a reader that does not read, and does not spin while waiting', async () => {
    await startAgent();
    const proc = await startRelay();
    let agentSocket: Socket | undefined;
    onAgentConnection = (socket) => {
      agentSocket = socket;
      socket.pause(); // reads nothing for now
    };
    const host = await connect();
    const payload = randomBytes(32 * 2 ** 20);
    const received = new Promise<string>((done) => {
      const hash = createHash('sha256');
      let n = 0;
      const attach = () => {
        if (!agentSocket) return void setTimeout(attach, 10);
        agentSocket.on('data', (c: Buffer) => {
          hash.update(c);
          n += c.length;
          if (n === payload.length) done(hash.digest('hex'));
        });
      };
      attach();
    });
    host.write(payload);
    await sleep(1_000);
    // Blocked on the paused reader: the relay holds at most its buffers; the rest waits in the host's socket.
    const ticksBefore = cpuTicks(proc.pid!);
    await sleep(1_000);
    expect(cpuTicks(proc.pid!) - ticksBefore).toBeLessThanOrEqual(2); // idle in poll(), not spinning (ticks are 10 ms)
    expect(host.writableLength).toBeGreaterThan(16 * 2 ** 20);
    agentSocket!.resume();
    expect(await received).toBe(sha(payload));
    expect(peakRssKib(proc.pid!)).toBeLessThan(4 * 1024);
    host.destroy();
  });

  it('closes the host connection when the agent dies mid-stream, and serves the next one', async () => {
    await startAgent();
    await startRelay();
    onAgentConnection = (socket) => socket.once('data', () => socket.destroy()); // dies with unread bytes
    const host = await connect();
    const ended = readAll(host);
    host.write(randomBytes(256 * 1024));
    expect((await ended).data.length).toBe(0);
    // The relay is still there for the next connection.
    onAgentConnection = (socket) => socket.end('still here');
    const next = await connect();
    const answer = readAll(next);
    next.end();
    expect((await answer).data.toString()).toBe('still here');
  });

  it('ends the agent connection when the host dies mid-stream', async () => {
    await startAgent();
    await startRelay();
    const agentSide = new Promise<{ data: Buffer; ended: string }>((done) => {
      onAgentConnection = (socket) => void readAll(socket).then(done);
    });
    const host = await connect();
    host.write(randomBytes(64 * 1024));
    await sleep(200);
    host.destroy(); // dies with the relay's bytes for it unread
    const seen = await agentSide;
    expect(['eof', 'closed']).toContain(seen.ended);
  });

  it('closes a connection while the agent is not listening, and relays once it is', async () => {
    await startRelay();
    const early = await connect();
    expect((await readAll(early)).data.length).toBe(0);
    await startAgent();
    onAgentConnection = (socket) => socket.end('hello');
    const late = await connect();
    const answer = readAll(late);
    late.end();
    expect((await answer).data.toString()).toBe('hello');
  });

  it('lets a new host connection replace the current one (the host holds one at a time)', async () => {
    await startAgent();
    await startRelay();
    const agentEnds: Array<Promise<unknown>> = [];
    onAgentConnection = (socket) => {
      agentEnds.push(readAll(socket));
      socket.write('hi');
    };
    const first = await connect();
    const firstEnd = readAll(first);
    const second = await connect();
    const secondRead = new Promise<string>((done) => second.once('data', (c: Buffer) => done(c.toString())));
    expect(await secondRead).toBe('hi');
    await firstEnd; // closed by the relay
    await agentEnds[0]; // the first agent connection ended too
    second.destroy();
  });

  it('refuses bad arguments with exit 2 and one usage line', () => {
    const bad = spawnSync(relayBin, ['--listen-unix', front], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('banger-vsock-relay: --connect-unix is required');
  });
});
