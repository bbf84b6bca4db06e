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
  const { client } = await ctx.daemon();
  const stdin = process.stdin;
  const tty = options.tty ? localTerminal(process.stdout, process.env) : undefined;
  const raw = tty !== undefined && stdin.isTTY === true;
  const restore = (): void => {
    if (raw && stdin.isTTY) stdin.setRawMode(false);
  };
  let sendControl: ((message: { resize: { cols: number; rows: number } }) => void) | undefined;
  const onResize = (): void => {
    const size = localTerminal(process.stdout, process.env);
    sendControl?.({ resize: { cols: size.cols, rows: size.rows } });
  };
  if (raw) {
    stdin.setRawMode(true);
    // However banger ends (an uncaught error, process.exit), the terminal is given back.
    process.once('exit', restore);
  }
  if (tty && process.stdout.isTTY) process.stdout.on('resize', onResize);
  let unacked = 0;
  let paused = false;
  let stdoutBlocked = 0;
  const write = (stream: NodeJS.WritableStream, chunk: Buffer): void => {
    if (stream.write(chunk)) return;
    // Our own output is full (a slow pipe): stop reading the daemon, whose relay then waits, and so does the command.
    if (stdoutBlocked++ === 0) client.throttle(true);
    stream.once('drain', () => {
      if (--stdoutBlocked === 0) client.throttle(false);
    });
  };
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
          if ('stdout' in event) write(process.stdout, Buffer.from(event.stdout, 'base64'));
          else if ('stderr' in event) write(process.stderr, Buffer.from(event.stderr, 'base64'));
          else if ('ack' in event) {
            unacked -= event.ack;
            if (paused && unacked < INPUT_WINDOW / 2) {
              paused = false;
              stdin.resume();
            }
          }
        },
        onSendInput: (send) => {
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
        },
      },
    );
    await flushed(process.stdout);
    await flushed(process.stderr);
    if (result.exitStatus !== 0) throw new ExitError(result.exitStatus);
  } finally {
    process.stdout.off('resize', onResize);
    restore();
    process.off('exit', restore);
    // The command is over: whatever is still on our stdin is not read (as with ssh).
    stdin.destroy();
  }
}

function flushed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}
