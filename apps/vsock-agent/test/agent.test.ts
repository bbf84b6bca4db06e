import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BANGER_VERSION } from '@banger/api';
import { BangerError } from '@banger/errors';
import { exitStatusOf, INITIAL_WINDOW, PROTOCOL_VERSION, type AgentClient, type InChannel } from '@banger/agent';
import { AGENT_VERSION } from '../src/version.js';
import { startAgent, type AgentProcess } from './agent-process.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** How much the agent's RSS may grow while a command writes into a stream nobody reads (documented in docs/agent.md). */
const RSS_GROWTH_BOUND = 16 * 1024 * 1024;

describe('banger-vsock-agent on a Unix socket', () => {
  let agent: AgentProcess;
  let client: AgentClient;

  beforeAll(async () => {
    agent = await startAgent();
    client = await agent.connect();
  });
  afterAll(async () => {
    if (process.env['AGENT_LOG']) await new Promise((r) => setTimeout(r, 500)).then(() => console.log(agent?.log(), agent?.child.exitCode, agent?.child.signalCode));
    await agent?.stop();
  });

  it('answers the hello with its protocol, version, pid and uptime', () => {
    expect(client.hello).toMatchObject({ protocol: PROTOCOL_VERSION, agentVersion: AGENT_VERSION, pid: agent.child.pid });
    expect(client.hello.uptimeSeconds).toBeGreaterThan(0);
  });

  it('has the version of banger', () => {
    expect(AGENT_VERSION).toBe(BANGER_VERSION);
  });

  it('keeps stdout, stderr and the exit code of a command apart', async () => {
    const r = await client.run({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 7'] });
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(r).toMatchObject({ code: 7, signal: null });
    expect(exitStatusOf(r)).toBe(7);
  });

  it('reports the signal that killed a command, which maps to 128 + n', async () => {
    const r = await client.run({ argv: ['sh', '-c', 'kill -KILL $$'] });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(exitStatusOf(r)).toBe(137);
  });

  it('delivers a signal to a running command', async () => {
    const p = client.exec({ argv: ['sleep', '60'] });
    p.stdin.end();
    await p.started;
    p.kill('SIGTERM');
    expect(await p.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('passes 100 MiB of random stdin through cat byte for byte', async () => {
    const input = randomBytes(100 * 1024 * 1024);
    const started = performance.now();
    const r = await client.run({ argv: ['cat'] }, input);
    const seconds = (performance.now() - started) / 1000;
    console.log(`100 MiB through cat and back: ${seconds.toFixed(2)} s, ${(100 / seconds).toFixed(0)} MiB/s each way`);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(input.length);
    expect(sha256(r.stdout)).toBe(sha256(input));
  }, 120_000);

  it('runs 50 commands at once on one connection', async () => {
    const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => client.run({ argv: ['sh', '-c', `echo $0; exit $(( $0 % 5 ))`, String(i)] })));
    runs.forEach((r, i) => {
      expect(r.stdout.toString()).toBe(`${i}\n`);
      expect(r.code).toBe(i % 5);
    });
  });

  it('keeps serving other commands, with bounded memory, while one writes into a stream nobody reads', async () => {
    const before = agent.rss();
    const yes = client.exec({ argv: ['yes', 'banger'] });
    yes.stdin.end();
    await yes.started;
    await new Promise((r) => setTimeout(r, 2_000));
    const started = performance.now();
    const other = await client.run({ argv: ['echo', 'still here'] });
    const latencyMs = performance.now() - started;
    const after = agent.rss();
    console.log(`agent RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after 2 s of unread yes; other exec ${latencyMs.toFixed(0)} ms`);
    expect(other.stdout.toString()).toBe('still here\n');
    expect(after - before).toBeLessThan(RSS_GROWTH_BOUND);
    // The host side holds no more than the credit it granted.
    expect((yes.stdout as InChannel).pending).toBeLessThanOrEqual(INITIAL_WINDOW);
    yes.kill('SIGKILL');
    yes.stdout.resume();
    expect((await yes.exited).signal).toBe('SIGKILL');
  }, 30_000);

  it('passes env and cwd, and runs as another user by name', async () => {
    const r = await client.run({ argv: ['sh', '-c', 'echo "$GREETING $(pwd)"'], env: { GREETING: 'hi' }, cwd: '/tmp' });
    expect(r.stdout.toString()).toBe('hi /tmp\n');
    if (process.getuid?.() !== 0) return;
    const nobody = await client.run({ argv: ['sh', '-c', 'id -u; echo $USER'], user: 'nobody', cwd: '/' });
    const uid = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))!.split(':')[2];
    expect(nobody.stdout.toString()).toBe(`${uid}\nnobody\n`);
  });

  it('answers a command that cannot start, an unknown user and a bad pty size with typed errors', async () => {
    const missing = client.exec({ argv: ['/nonexistent/command'] });
    await expect(missing.exited).rejects.toMatchObject({ code: 'AGENT_EXEC_FAILED', exitCode: 127 });
    await expect(client.run({ argv: ['true'], user: 'no-such-user-here' })).rejects.toMatchObject({ code: 'AGENT_UNKNOWN_USER' });
    await expect(client.run({ argv: ['true'], pty: { cols: 0, rows: 24 } })).rejects.toMatchObject({ code: 'AGENT_BAD_REQUEST' });
  });

  describe('on a pseudo-terminal (banger-pty)', () => {
    /** The output of a pty command as it comes, and a wait for a pattern in it. */
    function watch(p: { stdout: InChannel | NodeJS.ReadableStream }): { text: () => string; waitFor: (pattern: RegExp) => Promise<void> } {
      let text = '';
      const checks = new Set<() => void>();
      p.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        for (const check of checks) check();
      });
      return {
        text: () => text,
        waitFor: (pattern) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ${pattern} in ${JSON.stringify(text)}`)), 10_000);
            const check = () => {
              if (!pattern.test(text)) return;
              clearTimeout(timer);
              checks.delete(check);
              resolve();
            };
            checks.add(check);
            check();
          }),
      };
    }

    it('gives the command a terminal of the asked size and TERM, with a prompt answered through stdin', async () => {
      const p = client.exec({ argv: ['sh', '-c', 'test -t 0 && echo "tty $TERM"; stty size; printf "name? "; read n; echo "hi $n"'], pty: { cols: 100, rows: 30, term: 'vt100' } });
      const out = watch(p);
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      await out.waitFor(/name\? $/);
      p.stdin.write('bob\n');
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(out.text()).toBe('tty vt100\r\n30 100\r\nname? bob\r\nhi bob\r\n');
      expect(stderr).toBe('');
    });

    it('resizes the terminal (the command sees SIGWINCH and the new size), and Ctrl-C ends it with 130', async () => {
      const p = client.exec({ argv: ['sh', '-c', 'trap "echo winch; stty size" WINCH; echo ready; while :; do sleep 0.1; done'], pty: { cols: 80, rows: 24 } });
      const out = watch(p);
      await out.waitFor(/ready/);
      p.resize(132, 50);
      await out.waitFor(/winch\r\n50 132\r\n/);
      p.stdin.write('\x03');
      expect(await p.exited).toEqual({ code: 130, signal: null });
    });

    it('Ctrl-C kills `sleep 100` with 130; a signal from the host reaches the command', async () => {
      const sleeper = client.exec({ argv: ['sleep', '100'], pty: { cols: 80, rows: 24 } });
      sleeper.stdout.resume();
      await sleeper.started;
      await new Promise((r) => setTimeout(r, 300)); // until sleep holds the terminal
      sleeper.stdin.write('\x03');
      expect(exitStatusOf(await sleeper.exited)).toBe(130);

      const termed = client.exec({ argv: ['sleep', '100'], pty: { cols: 80, rows: 24 } });
      termed.stdout.resume();
      await termed.started;
      termed.kill('SIGTERM');
      expect(exitStatusOf(await termed.exited)).toBe(143);
    });

    it('runs as another user on its own terminal', async () => {
      if (process.getuid?.() !== 0) return;
      const r = await client.run({ argv: ['sh', '-c', 'id -un; stat -c %U "$(tty)"'], user: 'nobody', cwd: '/', pty: { cols: 80, rows: 24 } });
      expect(r.stdout.toString()).toBe('nobody\r\nnobody\r\n');
    });
  });

  it('puts a file with its mode and gets it back', async () => {
    const path = join(agent.dir, 'put.bin');
    const content = randomBytes(3 * 1024 * 1024 + 17);
    expect(await client.putFile(path, content, { mode: 0o640 })).toEqual({ size: content.length });
    const got = await client.readFile(path);
    expect(got.stat).toMatchObject({ size: content.length, mode: 0o640 });
    expect(sha256(got.content)).toBe(sha256(content));
    await expect(client.readFile(join(agent.dir, 'missing'))).rejects.toMatchObject({ code: 'AGENT_FILE_FAILED' });
  });

  it('puts a file owned by another user when it runs as root', async () => {
    if (process.getuid?.() !== 0) return;
    const path = join(agent.dir, 'owned');
    await client.putFile(path, Buffer.from('x'), { mode: 0o600, owner: 'nobody' });
    const { stat } = await client.readFile(path);
    const entry = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))!.split(':');
    expect(stat).toMatchObject({ uid: Number(entry[2]), gid: Number(entry[3]), mode: 0o600 });
  });

  it('reports uptime, load, memory and disk', async () => {
    const facts = await client.facts();
    expect(facts.uptimeSeconds).toBeGreaterThan(0);
    expect(facts.load).toHaveLength(3);
    expect(facts.memory.totalBytes).toBeGreaterThan(facts.memory.availableBytes);
    expect(facts.disk.totalBytes).toBeGreaterThan(0);
    expect(facts.agent).toMatchObject({ version: AGENT_VERSION, pid: agent.child.pid });
    expect(facts.network).toEqual({ defaultRoute: expect.any(Boolean), nameservers: expect.any(Array) });
  });

  it('reports the clock offset without setting the clock', async () => {
    const clock = await client.clock();
    expect(clock.set).toBe(false);
    expect(Math.abs(clock.offsetMs)).toBeLessThan(1_000);
  });

  it('refuses a host with another protocol version with an error naming both versions', async () => {
    const error = await agent.connect({ protocol: 99, hostVersion: '9.9.9' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BangerError);
    expect(error).toMatchObject({ code: 'AGENT_PROTOCOL_MISMATCH' });
    expect((error as Error).message).toMatch(/protocol 1\b.*9\.9\.9.*99/);
    // The agent is still there for a compatible host.
    const again = await agent.connect();
    expect((await again.run({ argv: ['true'] })).code).toBe(0);
  });
});

describe('a host whose agent dies', () => {
  it('sees its open commands fail with AGENT_DISCONNECTED and new requests refused', async () => {
    const agent = await startAgent();
    try {
      const client = await agent.connect();
      const p = client.exec({ argv: ['sleep', '60'] });
      const pid = await p.started;
      agent.child.kill('SIGKILL');
      process.kill(pid, 'SIGKILL'); // The dead agent cannot clean up its child.
      await expect(p.exited).rejects.toMatchObject({ code: 'AGENT_DISCONNECTED' });
      await expect(client.facts()).rejects.toMatchObject({ code: 'AGENT_DISCONNECTED' });
    } finally {
      await agent.stop();
    }
  });
});
