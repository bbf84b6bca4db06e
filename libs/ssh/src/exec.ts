import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Client as SshClient, ClientChannel, ExecOptions } from 'ssh2';
import { CancelledError, InternalError } from '@banger/errors';
import { connectSsh, type SshTarget } from './connect.js';

/** A command to run in the guest over an open connection. */
export interface SshCommand {
  /** Shell command line, run by the guest user's login shell (`sh -c` semantics). */
  command: string;
  /** Bytes for the command's stdin; it sees EOF after them (or at once when absent). */
  stdin?: Readable | Buffer | string;
  /** Receives the command's stdout bytes unchanged; discarded when absent. */
  stdout?: Writable;
  /** Receives the command's stderr bytes unchanged (with a pty, the guest merges it into stdout). */
  stderr?: Writable;
  /** Allocate a pseudo-terminal of this size. */
  pty?: { cols: number; rows: number; term?: string };
  /** Environment variables (the guest's sshd must AcceptEnv them). */
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** Called once the command runs, with controls for an interactive session (pty resize on SIGWINCH). */
  onStart?: (controls: SshCommandControls) => void;
}

/** Live controls of a running guest command. */
export interface SshCommandControls {
  /** Tells the guest pty its new size. */
  resize(cols: number, rows: number): void;
}

/** How a guest command ended. */
export interface SshExecResult {
  /** The exit status 0–255, or null when the command was killed by a signal. */
  exitCode: number | null;
  /** `SIGKILL`, `SIGTERM`… when the command died of a signal. */
  signal?: string;
}

/** Options of `sshExec`: a target plus a command. */
export type SshExecOptions = SshTarget & SshCommand;

/**
 * Runs one command in the guest over a fresh connection and resolves with
 * its exit status. stdout and stderr are forwarded byte-exact to separate
 * streams (ends are not propagated: the caller owns them). Connection
 * failures and a host key other than the pinned one reject; a non-zero exit
 * does not.
 */
export async function sshExec(options: SshExecOptions): Promise<SshExecResult> {
  const client = await connectSsh(options);
  try {
    return await execOnClient(client, options, `${options.host}`);
  } finally {
    client.end();
  }
}

/** Runs a command over an already-open connection (see `connectSsh`). */
export function execOnClient(client: SshClient, command: SshCommand, hostLabel: string): Promise<SshExecResult> {
  if (command.signal?.aborted) return Promise.reject(new CancelledError(`ssh ${hostLabel}: cancelled`));
  return new Promise((resolve, reject) => {
    let channel: ClientChannel | undefined;
    let exit: SshExecResult | undefined;
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      command.signal?.removeEventListener('abort', onAbort);
      client.removeListener('error', onClientError);
      if (error) reject(error);
      else if (exit) resolve(exit);
      else reject(new InternalError('SSH_EXEC_LOST', `ssh ${hostLabel}: the connection closed before \`${shorten(command.command)}\` reported an exit status`));
    };
    const onAbort = (): void => {
      // Closing the channel makes the guest's sshd hang up on the command (SIGHUP).
      channel?.close();
      client.end();
      settle(new CancelledError(`ssh ${hostLabel}: \`${shorten(command.command)}\` cancelled`));
    };
    const onClientError = (error: Error): void => settle(new InternalError('SSH_EXEC_FAILED', `ssh ${hostLabel}: ${error.message}`, { cause: error }));
    command.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('error', onClientError);

    const execOptions: ExecOptions = {};
    if (command.pty) execOptions.pty = { cols: command.pty.cols, rows: command.pty.rows, term: command.pty.term ?? 'xterm-256color' };
    if (command.env) execOptions.env = command.env;
    const started = (error: Error | undefined, stream: ClientChannel): void => {
      if (error) return settle(new InternalError('SSH_EXEC_FAILED', `ssh ${hostLabel}: cannot start \`${shorten(command.command)}\`: ${error.message}`, { cause: error }));
      channel = stream;
      command.onStart?.({ resize: (cols, rows) => stream.setWindow(rows, cols, 0, 0) });
      stream.on('exit', (code: number | null, signal?: string) => {
        exit = code === null || code === undefined ? { exitCode: null, signal: signal ?? 'SIGKILL' } : { exitCode: code };
      });
      stream.on('close', () => settle());
      // Writes racing the command's exit fail on a closed channel: its status is what matters.
      stream.on('error', () => undefined);
      if (command.stdout) stream.pipe(command.stdout, { end: false });
      else stream.resume();
      if (command.stderr) stream.stderr.pipe(command.stderr, { end: false });
      else stream.stderr.resume();

      const input = command.stdin;
      if (input === undefined) stream.end();
      else if (typeof input === 'string' || Buffer.isBuffer(input)) stream.end(input);
      else {
        input.on('error', (e: Error) => {
          stream.close();
          settle(new InternalError('SSH_STDIN_FAILED', `ssh ${hostLabel}: reading stdin for \`${shorten(command.command)}\` failed: ${e.message}`, { cause: e }));
        });
        input.pipe(stream);
      }
    };
    try {
      client.exec(command.command, execOptions, started);
    } catch (error) {
      // ssh2 throws synchronously when the connection is already gone (e.g. a session reused after a reset).
      settle(new InternalError('SSH_EXEC_FAILED', `ssh ${hostLabel}: cannot start \`${shorten(command.command)}\`: ${(error as Error).message}`, { cause: error }));
    }
  });
}

/** The conventional shell status of a result: the exit code, or 128+n for death by signal n. */
export function exitStatusOf(result: SshExecResult): number {
  if (result.exitCode !== null) return result.exitCode;
  const number = result.signal ? signalNumber(result.signal) : undefined;
  return 128 + (number ?? 9);
}

function signalNumber(name: string): number | undefined {
  const table = os.constants.signals as Record<string, number>;
  return table[name.startsWith('SIG') ? name : `SIG${name}`];
}

const shorten = (command: string): string => (command.length > 60 ? `${command.slice(0, 57)}...` : command);

/** One authenticated connection reused for several commands (a workspace sync runs two or three). */
export interface SshSession {
  exec(command: SshCommand): Promise<SshExecResult>;
  /** Ends the connection; safe to call twice. */
  close(): void;
}

/** Connects once (verifying the pinned host key) and returns a session to run commands over. */
export async function openSshSession(target: SshTarget): Promise<SshSession> {
  const client = await connectSsh(target);
  return {
    exec: (command) => execOnClient(client, command, target.host),
    close: () => client.end(),
  };
}
