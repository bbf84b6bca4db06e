import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { exitStatusOf, type ExecEnd, type RemoteProcess } from '@banger/agent';
import { CancelledError, InternalError, UserError } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import { vmRepository, type VmEnv } from '../vm-env.js';

/** What `vm exec` runs: argv without a shell, plus the agent's exec options. */
export interface VmExecRequest {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** Run on a pseudo-terminal of this size (banger-pty in the guest); its output is all stdout. */
  tty?: { cols: number; rows: number; term?: string };
}

/** The caller's side of one exec: its stdin, where output goes, backpressure and cancellation. */
export interface VmExecIo {
  input: Readable;
  emit(event: { started: number } | { stdout: string } | { stderr: string } | { ack: number }): void;
  /** Resolves when the caller has taken what was emitted (so a fast command cannot fill the daemon). */
  drained(): Promise<void>;
  signal: AbortSignal;
  /** Registers for the caller's control messages (a terminal resize). */
  onControl?(listener: (message: { resize: { cols: number; rows: number } }) => void): void;
}

/** How long `vm exec` waits for a connection to the agent (it is normally already connected). */
const CONNECT_TIMEOUT_MS = 30_000;
/**
 * How long the agent may take to say a command started. An agent stopped
 * behind an open virtio-serial connection never answers and the host is not
 * told; generous, because 50 starts at once under TCG take seconds each.
 */
const START_ANSWER_MS = 45_000;

/**
 * `vm exec`: runs a command in a running VM through the daemon's connection
 * to its agent. Output is relayed as it comes (base64 events, stdout and
 * stderr apart), paused while the caller has not taken what was sent; stdin
 * is written as it arrives and acknowledged once the agent's channel took it.
 * Cancelling (Ctrl-C, the client went away) kills the command. With `tty`
 * the command runs on a pseudo-terminal in the guest and the caller's resize
 * control messages reach it.
 */
export async function execInVm(env: VmEnv, name: string, request: VmExecRequest, io: VmExecIo): Promise<ExecEnd & { exitStatus: number }> {
  const vm = vmRepository(env).get(name);
  if (vm.state !== 'running' || vm.pid === undefined || !vm.pidStartTime || !processAlive(vm.pid, vm.pidStartTime)) {
    throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (state ${vm.state}${vm.stateReason ? `: ${vm.stateReason}` : ''})`, { hint: `start it: banger vm start ${name}` });
  }
  const links = env.agent?.links;
  if (!links) throw new UserError('AGENT_NOT_CONFIGURED', 'this daemon does not connect to guest agents', { hint: 'reinstall banger (make install) so the agent is beside the daemon' });
  const exec = {
    argv: request.argv,
    ...(request.env ? { env: request.env } : {}),
    ...(request.cwd ? { cwd: request.cwd } : {}),
    ...(request.user ? { user: request.user } : {}),
    ...(request.tty ? { pty: request.tty } : {}),
  };
  // A resize may come before the command started: the latest one is applied once it runs.
  let proc: RemoteProcess | undefined;
  let pendingResize: { cols: number; rows: number } | undefined;
  io.onControl?.((message) => {
    if (!request.tty) return;
    if (proc) proc.resize(message.resize.cols, message.resize.rows);
    else pendingResize = message.resize;
  });
  // Only the start is retried (after an agent restart); once it runs, the command is never run twice.
  proc = await links.withClient(vm, env.paths.vmsDir, { timeoutMs: CONNECT_TIMEOUT_MS, signal: io.signal }, async (client) => {
    const started = client.exec(exec);
    started.stdin.on('error', () => undefined);
    started.stdout.on('error', () => undefined);
    started.stderr.on('error', () => undefined);
    started.exited.catch(() => undefined);
    io.emit({ started: await answerWithin(started.started, START_ANSWER_MS, () => {
      links.markDown(vm, `no answer to an exec within ${START_ANSWER_MS / 1000} s`);
      return new InternalError('AGENT_NO_ANSWER', `vm ${name}: the guest agent did not say the command started within ${START_ANSWER_MS / 1000} s`, {
        hint: `is banger-agent running in the guest? (banger vm ssh ${name} -- systemctl status banger-agent)`,
      });
    }) });
    return started;
  });
  if (pendingResize) proc.resize(pendingResize.cols, pendingResize.rows);
  const running = proc;
  const onAbort = (): void => running.kill('SIGKILL');
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const outputs = [relayOutput(running.stdout, 'stdout', io), relayOutput(running.stderr, 'stderr', io)];
    relayInput(io.input, running, io);
    // The status goes last: after every byte of output was emitted (the agent sends exit after its output, but the
    // host-side streams may still hold bytes, paused for a slow client, when `exited` resolves).
    const [end] = await Promise.race([Promise.all([running.exited, ...outputs]), aborted(io.signal)]);
    return { ...end, exitStatus: exitStatusOf(end) };
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
}

/** Relays a channel as events; resolves once it ended and everything was emitted. */
function relayOutput(stream: Readable, channel: 'stdout' | 'stderr', io: VmExecIo): Promise<void> {
  const ended = finished(stream).catch(() => undefined);
  stream.on('data', (chunk: Buffer) => {
    io.emit(channel === 'stdout' ? { stdout: chunk.toString('base64') } : { stderr: chunk.toString('base64') });
    // Stop reading (the agent's credit then stops the command) until the client caught up.
    stream.pause();
    void io.drained().then(() => stream.resume());
  });
  return ended;
}

function relayInput(input: Readable, proc: RemoteProcess, io: VmExecIo): void {
  input.on('data', (chunk: Buffer) => {
    if (!proc.stdin.writable) return;
    const more = proc.stdin.write(chunk, (error) => {
      if (!error) io.emit({ ack: chunk.length });
    });
    // Beyond the agent's credit the chunks wait in the caller's input (bounded by the API server), not here.
    if (!more) {
      input.pause();
      proc.stdin.once('drain', () => input.resume());
    }
  });
  input.once('end', () => proc.stdin.end());
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void => reject(signal.reason instanceof CancelledError ? signal.reason : new CancelledError('vm exec: cancelled'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

/** `work`, or the error `timedOut` makes once `ms` passed without an answer. */
async function answerWithin<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const silence = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
  });
  try {
    return await Promise.race([work, silence]);
  } finally {
    clearTimeout(timer);
  }
}
