import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, InternalError } from '@banger/errors';
import { connectSsh, HostKeyMismatchError, SshConnectError, type SshTarget } from './connect.js';

/** Options of `waitForSsh`. */
export interface WaitForSshOptions extends SshTarget {
  /** Give up after this long (the whole wait, all attempts). */
  timeoutMs: number;
  /** The VM's name, for the hint pointing at its console log. */
  vmName?: string;
  /** Told about each failed attempt, e.g. to show "waiting for sshd (connection refused)". */
  onAttempt?: (attempt: number, error: Error) => void;
}

/** The pause after an attempt sshd never answered (refused, unreachable, no answer in time). */
const RETRY_FAST_MS = 100;
/** The pause after a handshake sshd started and did not finish (reset, key refused). */
const RETRY_HANDSHAKE_MS = 500;
const HANDSHAKE_FAILURES: ReadonlySet<SshConnectError['reason']> = new Set(['reset', 'auth', 'other']);

/** The guest's sshd did not accept banger's key before the deadline. */
export class SshWaitTimeoutError extends InternalError {
  constructor(message: string, hint: string, cause: unknown) {
    super('SSH_WAIT_TIMEOUT', message, { hint, cause });
  }
}

/**
 * Waits until the guest's sshd completes a handshake and accepts banger's key:
 * refused, reset, timed-out and unreachable connections are retried, and so is
 * a refused key, since the work disk holding authorized_keys may be mounted a
 * moment after sshd starts. The pause between attempts is fixed, never a
 * growing backoff, so a guest that becomes ready is noticed at once: 100 ms
 * after a connection that failed before sshd spoke (refused, unreachable: the
 * guest is not there yet, and asking again is cheap), 500 ms after a
 * handshake sshd began and did not finish (it is starting, or the key is not
 * mounted yet: each attempt costs the guest a key exchange). A host key
 * other than the pinned one fails at once. After `timeoutMs` the error is an
 * SshWaitTimeoutError naming the last failure, with a hint to read the console.
 */
export async function waitForSsh(options: WaitForSshOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const where = `${options.host}:${options.port ?? 22}`;
  let attempt = 0;
  let last: Error | undefined;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError(`waiting for ssh on ${where}: cancelled`);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    attempt += 1;
    let pause = RETRY_FAST_MS;
    try {
      const client = await connectSsh({ ...options, readyTimeoutMs: Math.max(1_000, Math.min(remaining, 10_000)) });
      client.end();
      return;
    } catch (error) {
      if (error instanceof HostKeyMismatchError || error instanceof CancelledError) throw error;
      if (!(error instanceof SshConnectError)) throw error;
      last = error;
      if (HANDSHAKE_FAILURES.has(error.reason)) pause = RETRY_HANDSHAKE_MS;
      options.onAttempt?.(attempt, error);
    }
    pause = Math.min(pause, deadline - Date.now());
    if (pause > 0) await sleep(pause, undefined, { signal: options.signal }).catch(() => undefined);
  }
  const why = last ? last.message.replace(/^ssh \S+: /, '') : 'no attempt finished in time';
  const inspect = options.vmName ? `banger vm logs ${options.vmName}` : 'banger vm logs <name>';
  throw new SshWaitTimeoutError(
    `ssh on ${where} not ready after ${Math.round(options.timeoutMs / 1000)}s: ${why}`,
    `the guest may still be booting or its sshd failed; inspect the console with \`${inspect}\``,
    last,
  );
}
