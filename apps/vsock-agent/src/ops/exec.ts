import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { UserError } from '@banger/errors';
import { Channel, signalNumber, type ControlMessage, type ExecRequest, type MuxStream } from '@banger/agent';
import type { Writable } from 'node:stream';
import { ptyCommand, resizeLine } from './pty-helper.js';
import { lookupUser } from './users.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The environment a command starts with: the user's basics, then the request's variables. */
export async function environmentFor(request: ExecRequest): Promise<{ env: Record<string, string>; uid?: number; gid?: number }> {
  const base: Record<string, string> = { PATH: DEFAULT_PATH, LANG: process.env['LANG'] ?? 'C.UTF-8' };
  if (request.user === undefined) {
    const home = process.env['HOME'];
    if (home) base['HOME'] = home;
    return { env: { ...base, ...request.env } };
  }
  const user = await lookupUser(request.user);
  Object.assign(base, { HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: user.shell });
  return { env: { ...base, ...request.env }, uid: user.uid, gid: user.gid };
}

/**
 * exec: spawns argv (no shell) with stdin/stdout/stderr on channels 0/1/2.
 * `started` once it runs; `exit` only after stdout and stderr were sent to
 * the end, so the host has every byte before it learns the status. Signals
 * from the host go to the process. If the stream dies (the host went away),
 * the command is killed.
 *
 * With `pty`, the process is banger-pty running argv on a new terminal: the
 * terminal's output is channel 1 (channel 2 carries only the helper's own
 * errors), keystrokes are channel 0, `resize` becomes a control line on the
 * helper's fd 3, signals are passed on by the helper, and its exit status is
 * the command's (128 + n for signal n, as a code). Killing the helper hangs
 * the terminal up, so the command gets SIGHUP.
 */
export async function execOp(stream: MuxStream, request: ExecRequest): Promise<void> {
  if (!Array.isArray(request.argv) || request.argv.length === 0 || request.argv.some((a) => typeof a !== 'string'))
    throw new UserError('AGENT_BAD_REQUEST', 'guest agent: exec needs a non-empty argv of strings');
  const pty = request.pty !== undefined ? ptyCommand({ ...request, pty: request.pty }) : undefined;
  const { env, uid, gid } = await environmentFor(request);
  if (request.pty && request.env?.['TERM'] === undefined) env['TERM'] = request.pty.term ?? 'xterm-256color';
  const child = spawn(pty?.file ?? request.argv[0]!, pty?.args ?? request.argv.slice(1), {
    cwd: request.cwd ?? env['HOME'] ?? '/',
    env,
    ...(uid === undefined ? {} : { uid, gid }),
    stdio: pty ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
  });
  const control = pty ? (child.stdio[3] as Writable) : undefined;
  control?.on('error', () => undefined); // the helper is gone
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  exited.catch(() => undefined);
  const spawned = await Promise.race([
    once(child, 'spawn').then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error,
    ),
  ]);
  if (spawned !== undefined)
    throw new UserError('AGENT_EXEC_FAILED', `guest: cannot run ${request.argv[0]}: ${spawned.message}`, { cause: spawned, exitCode: spawned.code === 'ENOENT' ? 127 : 126 });
  stream.control({ type: 'started', pid: child.pid! });

  const stdin = stream.input(Channel.stdin);
  child.stdin.on('error', () => undefined); // EPIPE: the command stopped reading.
  stdin.pipe(child.stdin);
  const stdout = stream.output(Channel.stdout);
  const stderr = stream.output(Channel.stderr);
  child.stdout.pipe(stdout);
  child.stderr.pipe(stderr);

  stream.on('control', (message: ControlMessage) => {
    if (message.type === 'resize' && control?.writable) {
      const line = resizeLine(message.cols, message.rows);
      if (line) control.write(line);
    } else if (message.type === 'signal') {
      if (signalNumber(message.signal) === undefined) return;
      try {
        child.kill(message.signal as NodeJS.Signals);
      } catch {
        // Already gone.
      }
    }
  });
  stream.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    stdin.destroy();
  });

  const [code, signal] = await exited;
  await Promise.all([finished(stdout).catch(() => undefined), finished(stderr).catch(() => undefined)]);
  if (stream.isClosed) return;
  stream.control({ type: 'exit', code, signal });
}
