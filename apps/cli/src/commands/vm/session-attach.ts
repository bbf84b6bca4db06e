import { PassThrough } from 'node:stream';
import { CancelledError, ExitError } from '@banger/errors';
import type { CliContext } from '../../context.js';
import { localTerminal } from './exec.js';
import { sendStream, throttledWriter } from './session.js';
import { sessionExitStatus, sessionState } from './session-format.js';

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const CTRL_P = 0x10;
const CTRL_Q = 0x11;
const BACKSPACE = [0x7f, 0x08];

/** The detach key, as `docker attach` has it. */
export const DETACH_KEY = 'Ctrl-P Ctrl-Q';

/**
 * `banger vm session attach VM NAME`: replays the last lines, then follows
 * the output live and forwards input, until the session ends (exit with its
 * status) or the user detaches (exit 0, the session keeps running).
 *
 * A session without a tty reads lines, so on a terminal the CLI keeps its
 * own small line editor in raw mode (echo, Backspace, Enter sends the line;
 * Ctrl-D ends the input): that is what lets it see the detach key, which a
 * cooked terminal would swallow (Ctrl-Q is XON). Ctrl-C detaches too: it is
 * never sent to the session (use `session stop --signal INT`). Input that is
 * not a terminal is streamed as it comes, like `session send`.
 */
export async function attachCommand(ctx: CliContext, vm: string, name: string, options: { replayLines: number }): Promise<void> {
  const { client } = await ctx.daemon();
  const detach = new AbortController();
  const onCtx = (): void => detach.abort();
  ctx.signal.addEventListener('abort', onCtx, { once: true });
  const stdin = process.stdin;
  const terminal = stdin.isTTY === true;
  const out = throttledWriter(ctx, client);
  // Fail early (unknown VM or session) before touching the terminal.
  const listing = await client.call('vm.session.list', { vm }, { signal: ctx.signal });
  const before = listing.sessions.find((s) => s.name === name);
  if (!before) await client.call('vm.session.logs', { vm, name, tail: 0 }, { signal: ctx.signal }); // raises the daemon's "no session" error
  const following = client
    .call('vm.session.logs', { vm, name, tail: options.replayLines, follow: true }, { signal: detach.signal, onEvent: (e) => out(Buffer.from(e.data, 'base64')) })
    .then(
      () => 'ended' as const,
      (error: unknown) => {
        if (error instanceof CancelledError && detach.signal.aborted) return 'detached' as const;
        throw error;
      },
    );
  let restore = (): void => undefined;
  if (before?.state === 'running') {
    if (terminal && before.tty) {
      ctx.err(`attached to ${vm}/${name} (a terminal); detach with ${DETACH_KEY}, the session keeps running`);
      restore = rawTerminal(ctx, client, vm, name, detach);
    } else if (terminal) {
      ctx.err(`attached to ${vm}/${name}; detach with ${DETACH_KEY} (or Ctrl-C), the session keeps running`);
      restore = lineEditor(ctx, client, vm, name, detach);
    } else {
      const input = new PassThrough();
      stdin.pipe(input);
      void sendStream(ctx, client, vm, name, input, detach.signal).catch(() => undefined);
      restore = () => stdin.unpipe(input);
    }
  }
  try {
    const how = await following;
    if (how === 'detached') {
      if (terminal) ctx.err(`\r\ndetached from ${vm}/${name}: it keeps running (banger vm session attach ${vm} ${name})`);
      return;
    }
    const after = (await client.call('vm.session.list', { vm }, { signal: ctx.signal })).sessions.find((s) => s.name === name);
    if (after && after.state !== 'running') {
      if (terminal) ctx.err(`\r\nsession ${vm}/${name} ended: ${sessionState(after)}`);
      const status = sessionExitStatus(after);
      if (status !== 0) throw new ExitError(status);
    }
  } finally {
    restore();
    ctx.signal.removeEventListener('abort', onCtx);
    stdin.destroy();
  }
}

/**
 * A tty session: raw mode, every key goes to the session (Ctrl-C included)
 * but the detach key; the session's terminal follows this one's size.
 */
function rawTerminal(ctx: CliContext, client: Awaited<ReturnType<CliContext['daemon']>>['client'], vm: string, name: string, detach: AbortController): () => void {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  const keys = new PassThrough();
  void sendStream(ctx, client, vm, name, keys, detach.signal).catch(() => undefined);
  const resize = (): void => {
    const { rows, cols } = localTerminal(process.stdout, ctx.env);
    void client.call('vm.session.resize', { vm, name, rows, cols }, { signal: detach.signal }).catch(() => undefined);
  };
  resize();
  process.stdout.on('resize', resize);
  let pendingP = false;
  const onData = (chunk: Buffer): void => {
    const out: number[] = [];
    for (const byte of chunk) {
      if (pendingP) {
        pendingP = false;
        if (byte === CTRL_Q) {
          if (out.length) keys.write(Buffer.from(out));
          return detach.abort();
        }
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) pendingP = true;
      else out.push(byte);
    }
    if (out.length) keys.write(Buffer.from(out));
  };
  stdin.on('data', onData);
  return () => {
    stdin.off('data', onData);
    process.stdout.off('resize', resize);
    keys.end();
    if (stdin.isTTY) stdin.setRawMode(false);
  };
}

/** Raw mode with a minimal line discipline; returns the function that restores the terminal. */
function lineEditor(ctx: CliContext, client: Awaited<ReturnType<CliContext['daemon']>>['client'], vm: string, name: string, detach: AbortController): () => void {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  let line: number[] = [];
  let pendingP = false;
  let sending = Promise.resolve();
  const sendBytes = (bytes: Buffer): void => {
    sending = sending.then(() =>
      client
        .call('vm.session.send', { vm, name }, { signal: detach.signal, onSendInput: (send) => (send(bytes), send(null)) })
        .then(
          () => undefined,
          (error: unknown) => {
            if (!(error instanceof CancelledError)) ctx.err(`\r\nbanger: ${(error as Error).message}`);
          },
        ),
    );
  };
  const onData = (chunk: Buffer): void => {
    for (const byte of chunk) {
      if (pendingP) {
        pendingP = false;
        if (byte === CTRL_Q) return detach.abort();
        line.push(CTRL_P);
      }
      if (byte === CTRL_P) pendingP = true;
      else if (byte === CTRL_C) return detach.abort();
      else if (byte === CTRL_D) {
        if (line.length > 0) sendBytes(Buffer.from(line));
        line = [];
      } else if (byte === 0x0d || byte === 0x0a) {
        process.stderr.write('\r\n');
        sendBytes(Buffer.from([...line, 0x0a]));
        line = [];
      } else if (BACKSPACE.includes(byte)) {
        if (line.length > 0) {
          line.pop();
          process.stderr.write('\b \b');
        }
      } else {
        line.push(byte);
        process.stderr.write(Buffer.from([byte]));
      }
    }
  };
  stdin.on('data', onData);
  return () => {
    stdin.off('data', onData);
    if (stdin.isTTY) stdin.setRawMode(false);
  };
}
