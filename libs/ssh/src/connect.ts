import type { Client as SshClient, ConnectConfig } from 'ssh2';
import { BangerError, CancelledError, InternalError, UserError } from '@banger/errors';
import { parsePublicKeyLine } from './keys/public-key.js';
import { ssh2 } from './load-ssh2.js';

/** Where and how to reach a guest's sshd. */
export interface SshTarget {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default `root`: guests are single-user sandboxes. */
  user?: string;
  /** The host user's private key (OpenSSH or PEM text). */
  privateKey: string | Buffer;
  /**
   * The guest's pinned public host key (`ssh-ed25519 AAAA… [comment]`). Any
   * other key fails the connection with "host key mismatch for <host>":
   * banger never trusts a guest key on first use.
   */
  hostKey: string;
  /** Handshake deadline in milliseconds (default 20 000). */
  readyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** The host key the guest presented is not the one banger pinned for it. */
export class HostKeyMismatchError extends BangerError {
  constructor(host: string) {
    super('SSH_HOST_KEY_MISMATCH', `host key mismatch for ${host}: the guest presented a key other than the one banger pinned`, {
      hint: 'another machine may answer on this address, or the VM disk was replaced; recreate the VM (banger vm delete + create) if that is expected',
    });
  }
}

/**
 * Connection-level failure (refused, reset, timeout, authentication). `reason`
 * says which, so waitForSsh can tell "not up yet" from "will never work".
 */
export class SshConnectError extends InternalError {
  readonly reason: 'refused' | 'reset' | 'timeout' | 'unreachable' | 'auth' | 'other';
  constructor(target: string, reason: SshConnectError['reason'], why: string, cause: unknown) {
    super('SSH_CONNECT_FAILED', `ssh ${target}: ${why}`, { cause });
    this.reason = reason;
  }
}

/**
 * Opens an authenticated ssh2 connection, verifying the host key against the
 * pinned one. The caller ends it with `client.end()`.
 */
export function connectSsh(target: SshTarget): Promise<SshClient> {
  const pinned = parsePublicKeyLine(target.hostKey);
  if (!pinned) {
    return Promise.reject(new UserError('SSH_BAD_HOST_KEY', `ssh ${target.host}: the pinned host key is not a public key line`));
  }
  const port = target.port ?? 22;
  const user = target.user ?? 'root';
  const label = `${user}@${target.host}:${port}`;
  if (target.signal?.aborted) return Promise.reject(new CancelledError(`ssh ${label}: cancelled`));

  return new Promise((resolve, reject) => {
    const client = new (ssh2().Client)();
    let mismatch = false;
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      target.signal?.removeEventListener('abort', onAbort);
      if (error) {
        client.end();
        client.destroy();
        reject(error);
      } else {
        resolve(client);
      }
    };
    const onAbort = (): void => finish(new CancelledError(`ssh ${label}: cancelled`));
    target.signal?.addEventListener('abort', onAbort, { once: true });

    client.once('ready', () => finish());
    client.on('error', (error: Error & { code?: string; level?: string }) => {
      if (mismatch) return finish(new HostKeyMismatchError(target.host));
      finish(classify(label, error));
    });
    client.once('close', () => finish(new SshConnectError(label, 'reset', 'connection closed during the handshake', undefined)));

    const config: ConnectConfig = {
      host: target.host,
      port,
      username: user,
      privateKey: target.privateKey,
      readyTimeout: target.readyTimeoutMs ?? 20_000,
      // Only the pinned key's algorithm is offered, so a guest with several host keys shows the pinned one.
      ...(pinned.type === 'ssh-rsa' ? {} : { algorithms: { serverHostKey: [pinned.type as 'ssh-ed25519'] } }),
      hostVerifier: (key: Buffer) => {
        mismatch = !key.equals(pinned.blob);
        return !mismatch;
      },
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
    };
    try {
      client.connect(config);
    } catch (error) {
      finish(new SshConnectError(label, 'other', (error as Error).message, error));
    }
  });
}

function classify(label: string, error: Error & { code?: string; level?: string }): SshConnectError {
  const code = error.code ?? '';
  if (code === 'ECONNREFUSED') return new SshConnectError(label, 'refused', 'connection refused', error);
  if (code === 'ECONNRESET' || code === 'EPIPE') return new SshConnectError(label, 'reset', 'connection reset', error);
  if (code === 'ETIMEDOUT' || /timed out/i.test(error.message)) return new SshConnectError(label, 'timeout', 'timed out', error);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') {
    return new SshConnectError(label, 'unreachable', `host unreachable (${code})`, error);
  }
  if (error.level === 'client-authentication') {
    return new SshConnectError(label, 'auth', 'the guest refused banger\'s key (authentication failed)', error);
  }
  return new SshConnectError(label, 'other', error.message, error);
}
