import { InvalidArgumentError } from 'commander';
import { ExitError } from '@banger/errors';
import type { CliContext } from '../../context.js';

/** Input bytes sent but not yet taken by the command's stdin, at most (then the CLI stops reading its own stdin). */
const INPUT_WINDOW = 4 * 1024 * 1024;

export interface ExecOptions {
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** Run on a pseudo-terminal in the guest (the local terminal in raw mode, resizes passed on). */
  tty?: boolean;
}

/** The size and type of the local terminal (80×24 when stdout is not one), for a guest pty. */
export function localTerminal(out: { isTTY?: boolean; columns?: number; rows?: number }, env: NodeJS.ProcessEnv): { cols: number; rows: number; term?: string } {
  const cols = out.isTTY && out.columns ? out.columns : 80;
  const rows = out.isTTY && out.rows ? out.rows : 24;
  return { cols, rows, ...(env['TERM'] ? { term: env['TERM'] } : {}) };
}

/** `--env K=V`, repeatable: a one-line error naming the bad value. */
export function parseEnvOption(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidArgumentError(`"${value}" is not NAME=VALUE (NAME: letters, digits, _)`);
  return { ...previous, [key]: value.slice(eq + 1) };
}

/** Where a guest command's bytes come from and go to. */
export interface AgentExecStdio {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown; destroy?: () => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** How a command run through the agent ended. */
export interface AgentExecOutcome {
  code: number | null;
  signal: string | null;
  exitStatus: number;
}

/** Thrown (as `cause`) when the call failed before the command started in the guest. */
export class NotStartedError extends Error {
  constructor(override readonly cause: unknown) {
    super((cause as Error)?.message ?? String(cause));
  }
}

/**
 * `banger vm exec NAME [--tty] [--env K=V]… [--cwd D] [--user U] -- cmd…`:
 * runs the command in the guest through the daemon and the guest agent (no
 * ssh, no shell). stdin is streamed to the command (flow-controlled by the
 * daemon's acks), stdout and stderr come back byte-exact and apart, and the
 * command's exit status is banger's (128 + n when killed by signal n).
 *
 * With --tty the command gets a pseudo-terminal in the guest of the local
 * terminal's size and TERM; the local terminal is put in raw mode (so Ctrl-C
 * is a byte for the guest, not a signal for banger) and restored on the way
 * out, and each local resize (SIGWINCH) is passed on. Like `ssh -tt`, a
 * non-terminal stdin still gets a guest terminal (80×24), just no raw mode.
 */
export async function execCommand(ctx: CliContext, name: string, argv: string[], options: ExecOptions): Promise<void> {
  const stdio = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  let result: AgentExecOutcome;
  try {
    result = await execThroughAgent(ctx, name, argv, options, stdio);
  } catch (error) {
    process.stdin.destroy();
    throw error instanceof NotStartedError ? error.cause : error;
  }
  if (result.exitStatus !== 0) throw new ExitError(result.exitStatus);
}

/**
 * Runs one command through the agent (the body of `vm exec`, also used by
 * `vm run -- cmd`) and resolves with how it ended. stdin is read only once
 * the command started, so a call that fails before (no agent) has consumed
 * none of it and rejects with NotStartedError: the caller may run the
 * command another way. Leaves stdin destroyed (unread input is dropped, as
 * with ssh) and a raw terminal restored.
 */
export async function execThroughAgent(ctx: CliContext, name: string, argv: string[], options: ExecOptions, stdio: AgentExecStdio): Promise<AgentExecOutcome> {
  const { client } = await ctx.daemon();
  const { stdin } = stdio;
  const out = stdio.stdout as NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  const tty = options.tty ? localTerminal(out, ctx.env) : undefined;
  const raw = tty !== undefined && stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const restore = (): void => {
    if (raw) stdin.setRawMode!(false);
  };
  let sendControl: ((message: { resize: { cols: number; rows: number } }) => void) | undefined;
  const onResize = (): void => {
    const size = localTerminal(out, ctx.env);
    sendControl?.({ resize: { cols: size.cols, rows: size.rows } });
  };
  const watchesResize = tty !== undefined && out.isTTY === true && typeof (out as NodeJS.WriteStream).on === 'function';
  let started = false;
  let unacked = 0;
  let paused = false;
  let stdoutBlocked = 0;
  let sendInput: ((chunk: Buffer | null) => void) | undefined;
  const write = (stream: NodeJS.WritableStream, chunk: Buffer): void => {
    if (stream.write(chunk)) return;
    // Our own output is full (a slow pipe): stop reading the daemon, whose relay then waits, and so does the command.
    if (stdoutBlocked++ === 0) client.throttle(true);
    stream.once('drain', () => {
      if (--stdoutBlocked === 0) client.throttle(false);
    });
  };
  const readInput = (send: (chunk: Buffer | null) => void): void => {
    stdin.on('data', (chunk: Buffer) => {
      send(chunk);
      unacked += chunk.length;
      if (unacked >= INPUT_WINDOW && !paused) {
        paused = true;
        stdin.pause();
      }
    });
    stdin.once('end', () => send(null));
    stdin.once('error', () => send(null));
  };
  if (raw) {
    stdin.setRawMode!(true);
    // However banger ends (an uncaught error, process.exit), the terminal is given back.
    process.once('exit', restore);
  }
  if (watchesResize) out.on('resize', onResize);
  try {
    const result = await client.call(
      'vm.exec',
      {
        name,
        argv,
        ...(options.env ? { env: options.env } : {}),
        ...(options.cwd ? { cwd: options.cwd } : {}),
        ...(options.user ? { user: options.user } : {}),
        ...(tty ? { tty } : {}),
      },
      {
        signal: ctx.signal,
        onSendControl: (send) => {
          sendControl = send;
        },
        onEvent: (event) => {
          if ('started' in event) {
            started = true;
            if (sendInput) readInput(sendInput);
          } else if ('stdout' in event) write(stdio.stdout, Buffer.from(event.stdout, 'base64'));
          else if ('stderr' in event) write(stdio.stderr, Buffer.from(event.stderr, 'base64'));
          else if ('ack' in event) {
            unacked -= event.ack;
            if (paused && unacked < INPUT_WINDOW / 2) {
              paused = false;
              stdin.resume();
            }
          }
        },
        onSendInput: (send) => {
          sendInput = send;
        },
      },
    ).catch((error: unknown) => {
      throw started ? error : new NotStartedError(error);
    });
    await flushed(stdio.stdout);
    await flushed(stdio.stderr);
    return result;
  } finally {
    if (watchesResize) out.off('resize', onResize);
    restore();
    process.off('exit', restore);
    // The command is over: whatever is still on our stdin is not read (as with ssh).
    if (started) stdin.destroy?.();
  }
}

function flushed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
