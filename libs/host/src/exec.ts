import type { ExecaError, Options } from 'execa';
import { CancelledError, HostCommandError } from '@banger/errors';
import { findExecutable } from './which.js';
import { installHint } from './packages.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Text or bytes written to the command's stdin. */
  input?: string | Buffer;
  signal?: AbortSignal;
  /** Milliseconds before the command is killed (SIGTERM, then SIGKILL). */
  timeoutMs?: number;
  /** Called for each line the command prints on stdout or stderr. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Return the result instead of throwing when the exit status is non-zero. */
  allowFailure?: boolean;
  /** Keep stdout as raw bytes (e.g. for binary output). */
  binary?: boolean;
  /** Most bytes kept of stdout or stderr before the command is stopped (default DEFAULT_MAX_BUFFER_BYTES). */
  maxBufferBytes?: number;
}

/** What run() keeps of a command's stdout or stderr unless told otherwise: execa's own default, 100 MB. */
const DEFAULT_MAX_BUFFER_BYTES = 100_000_000;

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutBuffer?: Buffer;
}

/**
 * Runs a host command without a shell and returns its output. A missing
 * executable, a non-zero exit, a timeout and a cancellation each become a
 * typed error whose message names the command and quotes stderr's tail.
 */
export async function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const resolved = findExecutable(command);
  if (!resolved) {
    throw new HostCommandError(command, `${command}: command not found`, { hint: installHint(command), argv: [command, ...args] });
  }
  const execaOptions: Options = {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    input: options.input,
    cancelSignal: options.signal,
    timeout: options.timeoutMs,
    forceKillAfterDelay: 5_000,
    reject: false,
    stripFinalNewline: false,
    encoding: options.binary ? 'buffer' : 'utf8',
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    maxBuffer: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES,
  };
  // Loaded on first use: execa's module setup is a third of a CLI start that never runs a host command.
  const { execa } = await import('execa');
  const child = execa(resolved, args, execaOptions);
  if (options.onLine) {
    const emit = (stream: 'stdout' | 'stderr') => {
      let pending = '';
      child[stream]?.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) options.onLine?.(line, stream);
      });
      child[stream]?.on('end', () => pending && options.onLine?.(pending, stream));
    };
    emit('stdout');
    emit('stderr');
  }
  const result = await child;
  // With encoding 'buffer' execa 9 hands back Uint8Arrays, not Buffers.
  const asBuffer = (value: unknown): Buffer | undefined => (value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : undefined);
  const stdoutBytes = asBuffer(result.stdout);
  const stderrBytes = asBuffer(result.stderr);
  const stdout = stdoutBytes ? stdoutBytes.toString('utf8') : String(result.stdout ?? '');
  const stderr = stderrBytes ? stderrBytes.toString('utf8') : String(result.stderr ?? '');
  const argv = [command, ...args];
  const shown = argv.join(' ');
  if (result.isCanceled) throw new CancelledError(`${shown}: cancelled`);
  if (result.timedOut) {
    throw new HostCommandError(command, `${shown}: timed out after ${options.timeoutMs} ms`, {
      argv,
      stderr,
      timedOut: true,
      ...facts(result),
      cause: result as ExecaError,
    });
  }
  if (result.isMaxBuffer) {
    // Said plainly: the command's own complaint about its closed pipe ("Connection reset by peer") hides the cause.
    throw new HostCommandError(command, `${shown}: printed more than ${options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES} bytes, the most kept`, { argv, stderr, ...facts(result), cause: result as ExecaError });
  }
  const exitCode = result.exitCode ?? (result.signal ? 128 : 1);
  if (exitCode !== 0 && !options.allowFailure) {
    const why = tail(stderr) || tail(stdout) || (result.signal ? `killed by ${result.signal}` : `exit status ${exitCode}`);
    throw new HostCommandError(command, `${shown}: ${why}`, { argv, stderr, ...facts(result) });
  }
  return {
    exitCode,
    stdout,
    stderr,
    ...(stdoutBytes ? { stdoutBuffer: stdoutBytes } : {}),
  };
}

/** How the command ended: its exit status, or the signal that killed it. */
function facts(result: { exitCode?: number | undefined; signal?: string | undefined }): { exitStatus?: number; signal?: string } {
  return { ...(result.exitCode !== undefined ? { exitStatus: result.exitCode } : {}), ...(result.signal ? { signal: result.signal } : {}) };
}

/** The last non-empty line of a command's output: usually the one that says why. */
function tail(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}
