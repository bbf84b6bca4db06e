import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionsClient, type SessionInfo } from '@banger/agent';
import { startAgent, type AgentProcess } from './agent-process.js';

/** A small segment cap, so rotation happens within a test (the guest default is 8 MiB). */
const SEGMENT = 4096;
const COUNTER = ['sh', '-c', 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done'];

function collect(readable: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    readable.on('data', (c: Buffer) => (text += c.toString()));
    readable.on('end', () => resolve(text));
    readable.on('error', reject);
  });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The lines are consecutive integers (no gap, no repeat). */
function expectConsecutive(lines: string[]): void {
  const numbers = lines.map(Number);
  for (let i = 1; i < numbers.length; i++) expect(numbers[i], `after ${numbers[i - 1]}`).toBe(numbers[i - 1]! + 1);
}

describe('sessions: the real agent and its real keepers, on the host', () => {
  const sessionsDir = mkdtempSync(join(tmpdir(), 'banger-sessions-'));
  // The PTY helper, built as `nx build` builds it (gcc -static).
  const ptyHelper = join(sessionsDir, '..', `${basename(sessionsDir)}-banger-pty`);
  const built = spawnSync('sh', [resolve(import.meta.dirname, '../native/build.sh'), ptyHelper], { encoding: 'utf8' });
  const env = { BANGER_SESSIONS_DIR: sessionsDir, BANGER_SESSION_SEGMENT_BYTES: String(SEGMENT), ...(built.status === 0 ? { BANGER_PTY_HELPER: ptyHelper } : {}) };
  let agent: AgentProcess;
  let sessions: SessionsClient;

  beforeAll(async () => {
    agent = await startAgent({ env });
    sessions = new SessionsClient(await agent.connect());
  });
  afterAll(async () => {
    for (const s of await sessions.list().catch(() => [] as SessionInfo[])) if (s.state === 'running') await sessions.signal(s.name, 'SIGKILL').catch(() => undefined);
    await agent?.stop();
    rmSync(sessionsDir, { recursive: true, force: true });
    rmSync(ptyHelper, { force: true });
  });

  it('announces the session ops in its hello', async () => {
    expect((await agent.connect()).hello.ops).toEqual(expect.arrayContaining(['session-start', 'session-list', 'session-logs', 'session-send', 'session-signal', 'session-rm']));
  });

  it('runs a counter that outlives the agent: list, tail, a restarted agent sees it, the output has no gap', async () => {
    const started = await sessions.start({ name: 'counter', argv: COUNTER });
    expect(started).toMatchObject({ name: 'counter', state: 'running', argv: COUNTER });
    expect(started.pid).toBeGreaterThan(0);
    await until('10 lines', async () => ((await sessions.get('counter')).outputBytes > 20 ? true : undefined));
    expect((await sessions.list()).map((s) => [s.name, s.state])).toContainEqual(['counter', 'running']);
    const tail = await collect(sessions.logs('counter', { tail: 5 }).output);
    expect(tail.split('\n').filter(Boolean)).toHaveLength(5);
    expectConsecutive(tail.split('\n').filter(Boolean));

    // The agent dies (SIGKILL): the keeper, in its own session, keeps the command running.
    agent.child.kill('SIGKILL');
    await new Promise((r) => agent.child.once('exit', r));
    await agent.stop(); // its temp dir (the dead agent's socket and bundle); the sessions dir is the test's
    await sleep(300);
    agent = await startAgent({ env });
    sessions = new SessionsClient(await agent.connect());
    const after = await sessions.get('counter');
    expect(after).toMatchObject({ state: 'running', pid: started.pid });
    await until('more output', async () => ((await sessions.get('counter')).outputBytes > after.outputBytes + 20 ? true : undefined));
    // Everything kept, across rotations (4 KiB segments): consecutive from the oldest kept line on.
    const all = (await collect(sessions.logs('counter').output)).split('\n').filter(Boolean);
    expectConsecutive(all.slice(1)); // the first kept line may be cut by the rotation
  }, 60_000);

  it('follows live output across rotations without a gap, and ends when the session is stopped', async () => {
    await sessions.start({ name: 'fast', argv: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo $i; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.1; done; sleep 30'] });
    const follow = sessions.logs('fast', { tail: 0, follow: true });
    const text = collect(follow.output);
    await until('the writer done', async () => ((await sessions.get('fast')).outputBytes >= 13_890 ? true : undefined));
    await sessions.signal('fast', 'SIGTERM');
    const lines = (await text).split('\n').filter(Boolean);
    await follow.done;
    expect(lines.at(-1)).toBe('2999');
    expect(lines.length).toBeGreaterThan(1000); // followed live while it wrote, through several rotations
    expectConsecutive(lines);
    const info = await sessions.get('fast');
    expect(info).toMatchObject({ state: 'exited', code: null, signal: 'SIGTERM' });
    // The cap: at most two segments are kept, whatever was written.
    expect(info.outputBytes).toBe(13_890);
    expect(info.keptBytes).toBeLessThanOrEqual(2 * SEGMENT);
    const files = readdirSync(join(sessionsDir, 'fast')).filter((f) => f.startsWith('out.'));
    expect(files.length).toBeLessThanOrEqual(2);
    expect(files.reduce((n, f) => n + statSync(join(sessionsDir, 'fast', f)).size, 0)).toBeLessThanOrEqual(2 * SEGMENT);
  }, 60_000);

  it('records an exit code, keeps the output readable after the end, and removes only ended sessions', async () => {
    await sessions.start({ name: 'three', argv: ['sh', '-c', 'echo bye; exit 3'] });
    const ended = await until('the end', async () => {
      const s = await sessions.get('three');
      return s.state === 'exited' ? s : undefined;
    });
    expect(ended).toMatchObject({ code: 3, signal: null });
    expect(await collect(sessions.logs('three').output)).toBe('bye\n');
    expect(await collect(sessions.logs('three', { follow: true }).output)).toBe('bye\n');
    await sessions.rm('three');
    await expect(sessions.get('three')).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
  }, 30_000);

  it('feeds stdin from the FIFO: several sends reach one reader', async () => {
    await sessions.start({ name: 'cat', argv: ['cat'] });
    expect(await sessions.send('cat', Buffer.from('hello\n'))).toEqual({ bytes: 6 });
    await sessions.send('cat', Buffer.from('again\n'));
    const text = await until('the echo', async () => {
      const t = await collect(sessions.logs('cat').output);
      return t === 'hello\nagain\n' ? t : undefined;
    });
    expect(text).toBe('hello\nagain\n');
    expect((await sessions.get('cat')).state).toBe('running');
    await sessions.signal('cat', 'SIGKILL');
    const s = await until('the kill', async () => {
      const x = await sessions.get('cat');
      return x.state === 'exited' ? x : undefined;
    });
    expect(s.signal).toBe('SIGKILL');
    await expect(sessions.send('cat', Buffer.from('late\n'))).rejects.toMatchObject({ code: 'SESSION_ENDED' });
  }, 30_000);

  it('refuses bad input and leaves nothing behind', async () => {
    await expect(sessions.start({ name: 'counter', argv: ['true'] })).rejects.toMatchObject({ code: 'SESSION_EXISTS' });
    await expect(sessions.start({ name: '../x', argv: ['true'] })).rejects.toMatchObject({ code: 'SESSION_BAD_NAME' });
    await expect(sessions.start({ name: 'nope', argv: ['/no/such/program'] })).rejects.toMatchObject({ code: 'AGENT_EXEC_FAILED', exitCode: 127 });
    expect(readdirSync(sessionsDir)).not.toContain('nope');
    await expect(sessions.get('ghost')).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND' });
    await expect(sessions.rm('counter')).rejects.toMatchObject({ code: 'SESSION_RUNNING' });
    await expect(sessions.signal('counter', 'SIGNOPE')).rejects.toMatchObject({ code: 'AGENT_BAD_REQUEST' });
  });

  it('runs a --tty session under banger-pty: a terminal, resize, keystrokes, Ctrl-C', async () => {
    if (built.status !== 0) throw new Error(`banger-pty did not build (gcc, libc6-dev): ${built.stderr}`);
    await sessions.start({ name: 'term', argv: ['sh', '-c', 'stty size; read x; stty size; echo "got $x"; exit 5'], tty: { rows: 24, cols: 80 } });
    expect((await sessions.get('term')).tty).toBe(true);
    await until('the first size', async () => ((await collect(sessions.logs('term').output)).includes('24 80') ? true : undefined));
    await sessions.resize('term', 40, 100);
    await sessions.send('term', Buffer.from('hi\r'));
    const ended = await until('the end', async () => {
      const x = await sessions.get('term');
      return x.state === 'exited' ? x : undefined;
    });
    expect(ended).toMatchObject({ code: 5, signal: null });
    const screen = await collect(sessions.logs('term').output);
    expect(screen).toContain('24 80\r\n');
    expect(screen).toContain('40 100\r\n');
    expect(screen).toContain('got hi\r\n');

    await sessions.start({ name: 'interrupt', argv: ['sleep', '100'], tty: { rows: 24, cols: 80 } });
    await sleep(300);
    await sessions.send('interrupt', Buffer.from([0x03]));
    const interrupted = await until('the interrupt', async () => {
      const x = await sessions.get('interrupt');
      return x.state === 'exited' ? x : undefined;
    });
    expect(interrupted).toMatchObject({ code: null, signal: 'SIGINT' });
    await expect(sessions.resize('counter', 10, 10)).rejects.toMatchObject({ code: 'AGENT_BAD_REQUEST' });
  }, 30_000);

  it('generates a name from the program when none is given', async () => {
    const a = await sessions.start({ argv: ['sleep', '30'] });
    const b = await sessions.start({ argv: ['/bin/sleep', '30'] });
    expect([a.name, b.name]).toEqual(['sleep-1', 'sleep-2']);
  });
});

describe('sessions: an output flood, with the guest default cap (2 × 8 MiB)', () => {
  const sessionsDir = mkdtempSync(join(tmpdir(), 'banger-flood-'));
  let agent: AgentProcess;
  let sessions: SessionsClient;
  beforeAll(async () => {
    agent = await startAgent({ env: { BANGER_SESSIONS_DIR: sessionsDir } });
    sessions = new SessionsClient(await agent.connect());
  });
  afterAll(async () => {
    for (const s of await sessions.list().catch(() => [] as SessionInfo[])) if (s.state === 'running') await sessions.signal(s.name, 'SIGKILL').catch(() => undefined);
    await agent?.stop();
    rmSync(sessionsDir, { recursive: true, force: true });
  });

  it('1 GiB of output keeps at most 16 MiB on disk, and another session answers logs meanwhile', async () => {
    await sessions.start({ name: 'quiet', argv: ['sh', '-c', 'echo hello; sleep 600'] });
    const started = Date.now();
    await sessions.start({ name: 'flood', argv: ['sh', '-c', 'head -c 1073741824 /dev/zero'] });
    // While it floods: the other session's logs come back promptly.
    const latencies: number[] = [];
    let maxKept = 0;
    for (;;) {
      const t = Date.now();
      expect(await collect(sessions.logs('quiet', { tail: 5 }).output)).toBe('hello\n');
      latencies.push(Date.now() - t);
      const flood = await sessions.get('flood');
      const onDisk = readdirSync(join(sessionsDir, 'flood')).filter((f) => f.startsWith('out.')).reduce((n, f) => n + (statSync(join(sessionsDir, 'flood', f), { throwIfNoEntry: false })?.size ?? 0), 0);
      maxKept = Math.max(maxKept, onDisk);
      if (flood.state !== 'running') break;
      await sleep(200);
    }
    const flood = await sessions.get('flood');
    console.log(
      `1 GiB flood: ${((Date.now() - started) / 1000).toFixed(1)} s; most kept on disk ${(maxKept / 2 ** 20).toFixed(1)} MiB; ` +
        `logs of another session meanwhile: median ${latencies.sort((a, b) => a - b)[latencies.length >> 1]} ms, max ${latencies.at(-1)} ms over ${latencies.length}`,
    );
    expect(flood).toMatchObject({ state: 'exited', code: 0, outputBytes: 1073741824 });
    expect(flood.keptBytes).toBeLessThanOrEqual(16 * 2 ** 20);
    // Sampled while it ran: a new segment starts empty and the oldest goes at once, so never above the cap.
    expect(maxKept).toBeLessThanOrEqual(16 * 2 ** 20);
    expect(latencies.at(-1)).toBeLessThan(2_000);
  }, 120_000);
});
