import { constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { finished } from 'node:stream/promises';
import { UserError } from '@banger/errors';
import {
  Channel,
  signalNumber,
  type MuxStream,
  type SessionListRequest,
  type SessionLogsRequest,
  type SessionResizeRequest,
  type SessionRmRequest,
  type SessionSendRequest,
  type SessionSignalRequest,
  type SessionStartRequest,
} from '@banger/agent';
import { environmentFor } from './exec.js';
import { outputExtent } from '../sessions/segments.js';
import { copyOutput, tailOffset } from '../sessions/read-output.js';
import { stdinPath } from '../sessions/state.js';
import { describeEnd, getSession, listSessions, readSession, removeSession, resizeSession, sessionDir, signalSession, startSession } from '../sessions/store.js';

/** How often a follower looks for new output. */
const FOLLOW_POLL_MS = 100;

export async function sessionStartOp(stream: MuxStream, request: SessionStartRequest): Promise<void> {
  if (!Array.isArray(request.argv) || request.argv.length === 0 || request.argv.some((a) => typeof a !== 'string'))
    throw new UserError('AGENT_BAD_REQUEST', 'guest agent: session-start needs a non-empty argv of strings');
  const tty = request.tty;
  if (tty !== undefined && !(Number.isInteger(tty.rows) && tty.rows > 0 && tty.rows < 10_000 && Number.isInteger(tty.cols) && tty.cols > 0 && tty.cols < 10_000))
    throw new UserError('AGENT_BAD_REQUEST', 'guest agent: a tty needs whole rows and cols between 1 and 9999');
  const withTerm = tty ? { TERM: tty.term ?? 'xterm-256color', ...request.env } : request.env;
  const { env, uid, gid } = await environmentFor({ op: 'exec', argv: request.argv, ...(withTerm ? { env: withTerm } : {}), ...(request.user ? { user: request.user } : {}) });
  const info = await startSession({
    ...(request.name !== undefined ? { name: request.name } : {}),
    argv: request.argv,
    env,
    cwd: request.cwd ?? env['HOME'] ?? '/',
    ...(request.user !== undefined ? { user: request.user } : {}),
    ...(uid !== undefined ? { uid, gid: gid ?? uid } : {}),
    ...(tty ? { pty: { rows: tty.rows, cols: tty.cols } } : {}),
  });
  stream.control({ type: 'result', result: info });
}

export async function sessionListOp(stream: MuxStream, request: SessionListRequest): Promise<void> {
  stream.control({ type: 'result', result: request.name !== undefined ? [getSession(request.name)] : listSessions() });
}

/** The kept output (or its last lines), then with follow the new output until the session ended and everything was sent. */
export async function sessionLogsOp(stream: MuxStream, request: SessionLogsRequest): Promise<void> {
  const info = getSession(request.name);
  stream.control({ type: 'started', pid: info.pid });
  const dir = sessionDir(request.name);
  const out = stream.output(Channel.stdout);
  let closed = false;
  stream.on('close', () => (closed = true));
  // Without follow: what was written when the request came, no more (so `-n 5` prints 5 lines).
  const { start, end } = outputExtent(dir);
  let pos = request.tail !== undefined ? await tailOffset(dir, request.tail, end) : start;
  for (;;) {
    // Read the state before the output: output written before the end was recorded is then sent too.
    const ended = readSession(request.name)?.state !== 'running';
    pos = await copyOutput(dir, pos, out, () => closed, request.follow ? Infinity : end);
    if (closed) return;
    if (!request.follow || ended) break;
    await sleep(FOLLOW_POLL_MS);
  }
  out.end();
  await finished(out).catch(() => undefined);
  if (!stream.isClosed) stream.control({ type: 'result', result: { offset: pos } });
}

/** Channel 0's bytes to the session's stdin FIFO. */
export async function sessionSendOp(stream: MuxStream, request: SessionSendRequest): Promise<void> {
  const info = getSession(request.name);
  if (info.state !== 'running') throw new UserError('SESSION_ENDED', `session "${request.name}" has ended (${describeEnd(info)}): it takes no input`);
  let fd: number;
  try {
    // Non-blocking: with no reader left (the command closed its stdin or ended) this fails with ENXIO instead of hanging.
    fd = openSync(stdinPath(sessionDir(request.name)), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new UserError('SESSION_ENDED', `session "${request.name}" no longer reads its stdin (${(error as Error).message})`, { cause: error });
  }
  const fifo = new Socket({ fd, readable: false, writable: true });
  let bytes = 0;
  const input = stream.input(Channel.stdin);
  input.on('data', (chunk: Buffer) => (bytes += chunk.length));
  input.pipe(fifo);
  await finished(fifo).catch((error: Error) => {
    throw new UserError('SESSION_ENDED', `session "${request.name}": writing its stdin failed (${error.message})`, { cause: error });
  });
  stream.control({ type: 'result', result: { bytes } });
}

export async function sessionSignalOp(stream: MuxStream, request: SessionSignalRequest): Promise<void> {
  if (typeof request.signal !== 'string' || signalNumber(request.signal) === undefined) throw new UserError('AGENT_BAD_REQUEST', `guest agent: unknown signal "${String(request.signal)}"`);
  stream.control({ type: 'result', result: signalSession(request.name, request.signal) });
}

export async function sessionResizeOp(stream: MuxStream, request: SessionResizeRequest): Promise<void> {
  stream.control({ type: 'result', result: resizeSession(request.name, request.rows, request.cols) });
}

export async function sessionRmOp(stream: MuxStream, request: SessionRmRequest): Promise<void> {
  removeSession(request.name);
  stream.control({ type: 'result', result: {} });
}
