// banger-pty, the agent's PTY helper, run directly on the host (no VM): the
// real binary, built by native/build.sh as `nx build` builds it, driven
// through pipes the way the agent drives it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';

const needs = prerequisites(['gcc', 'stty', 'file']);
const buildScript = resolve(import.meta.dirname, '../native/build.sh');

/** A running banger-pty: its output so far, its stdin, its control pipe (fd 3) and its exit status. */
interface Pty {
  output: () => string;
  stdin: Writable;
  control: Writable;
  status: Promise<number | null>;
  /** Resolves once the output matches. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
}

describe.skipIf(needs.skip)(`banger-pty${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-pty-'));
  const helper = join(dir, 'banger-pty');
  const running: Array<ReturnType<typeof spawn>> = [];

  beforeAll(() => {
    needs.assert();
    const built = spawnSync('sh', [buildScript, helper], { encoding: 'utf8' });
    expect(built.stderr).toBe('');
    expect(built.status).toBe(0);
  });
  afterAll(() => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  function start(args: string[]): Pty {
    const child = spawn(helper, ['--control-fd', '3', ...args], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TERM: 'xterm-256color' } });
    running.push(child);
    let output = '';
    const waiters = new Set<() => void>();
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('latin1');
      for (const check of waiters) check();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString('latin1');
    });
    const status = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    return {
      output: () => output,
      stdin: child.stdin!,
      control: child.stdio[3] as Writable,
      status,
      waitFor: (pattern, timeoutMs = 10_000) =>
        new Promise<void>((done, fail) => {
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`no ${pattern} in the output within ${timeoutMs} ms: ${JSON.stringify(output)}`));
          }, timeoutMs);
          const check = () => {
            if (!pattern.test(output)) return;
            clearTimeout(timer);
            waiters.delete(check);
            done();
          };
          waiters.add(check);
          check();
        }),
    };
  }

  it('is a static executable (it runs in a guest of any libc)', () => {
    expect(spawnSync('file', [helper], { encoding: 'utf8' }).stdout).toMatch(/statically linked/);
  });

  it('gives the command a terminal: a prompt, echoed input, an answer, TERM passed through', async () => {
    const pty = start(['--', 'sh', '-c', 'test -t 0 && test -t 1 && echo "tty $TERM"; printf "name? "; read name; echo "hello $name"']);
    await pty.waitFor(/name\? $/);
    pty.stdin.write('bob\n');
    expect(await pty.status).toBe(0);
    // The terminal echoes what was typed, and turns \n into \r\n (a real line discipline).
    expect(pty.output()).toBe('tty xterm-256color\r\nname? bob\r\nhello bob\r\n');
  });

  it('sets the window size from --rows/--cols and from control lines, and the command gets SIGWINCH', async () => {
    const pty = start(['--rows', '30', '--cols', '100', '--', 'sh', '-c', 'trap "echo winch; stty size" WINCH; stty size; echo ready; while :; do sleep 0.1; done']);
    await pty.waitFor(/30 100\r\nready\r\n/);
    // Split across writes: a line is applied once it is complete.
    pty.control.write('50 1');
    pty.control.write('32\n');
    await pty.waitFor(/winch\r\n50 132\r\n/);
    pty.stdin.write('\x03');
    expect(await pty.status).toBe(130);
  });

  it('Ctrl-C (0x03) kills `sleep 100` with status 130', async () => {
    const pty = start(['--', 'sleep', '100']);
    // Once sleep has the terminal: the terminal's foreground group is sleep's own.
    await new Promise((r) => setTimeout(r, 300));
    const began = Date.now();
    pty.stdin.write('\x03');
    expect(await pty.status).toBe(130);
    expect(Date.now() - began).toBeLessThan(5_000);
  });

  it("exits with the command's exit code, or 128 + n for signal n", async () => {
    expect(await start(['--', 'sh', '-c', 'exit 7']).status).toBe(7);
    expect(await start(['--', 'sh', '-c', 'kill -TERM $$']).status).toBe(143);
  });

  it('passes a signal it receives on to the command', async () => {
    const pty = start(['--', 'sh', '-c', 'trap "echo got-usr1; exit 5" USR1; echo ready; while :; do sleep 0.1; done']);
    await pty.waitFor(/ready/);
    const child = running.at(-1)!;
    child.kill('SIGUSR1');
    expect(await pty.status).toBe(5);
    expect(pty.output()).toContain('got-usr1');
  });

  it('sends EOF (^D) when its stdin ends, so a reading command finishes', async () => {
    const pty = start(['--', 'sh', '-c', 'cat; echo done']);
    pty.stdin.end('line\n');
    expect(await pty.status).toBe(0);
    expect(pty.output()).toMatch(/line\r\nline\r\n.*done\r\n$/s);
  });

  it('drains all the output of a command that exits right after writing it', async () => {
    const pty = start(['--', 'sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x']);
    expect(await pty.status).toBe(0);
    expect(pty.output()).toBe('x'.repeat(300_000));
  });

  it('reports a missing command as 127 and usage errors as 2, naming the culprit', async () => {
    const missing = start(['--', 'no-such-command-here']);
    expect(await missing.status).toBe(127);
    expect(missing.output()).toContain('banger-pty: no-such-command-here: No such file or directory');

    const usage = spawnSync(helper, ['--rows', 'many', '--', 'true'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe("banger-pty: --rows must be a number from 1 to 65535, got 'many'\n");
    expect(spawnSync(helper, ['true'], { encoding: 'utf8' }).status).toBe(2);
    expect(spawnSync(helper, ['--control-fd', '9', '--', 'true'], { encoding: 'utf8' }).stderr).toContain('--control-fd is not an open file descriptor');
  });
});
