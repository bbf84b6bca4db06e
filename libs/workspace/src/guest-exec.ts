import { Writable, type Readable } from 'node:stream';
import type { SshSession } from '@banger/ssh';

/** The outcome of a command run in the guest, with its output collected. */
export interface GuestExecResult {
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

/**
 * Runs a shell command line in the guest, feeding it `stdin`. Workspace sync
 * and the git/mise helpers only need this, so tests and other transports
 * (the guest agent) can stand in for ssh.
 */
export type GuestExec = (command: string, io?: { stdin?: Readable | Buffer | string; signal?: AbortSignal }) => Promise<GuestExecResult>;

/** A GuestExec over an open ssh session, collecting stdout and stderr (keep outputs small). */
export function sshGuestExec(session: SshSession): GuestExec {
  return async (command, io = {}) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const collect = (chunks: Buffer[]): Writable =>
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          chunks.push(chunk);
          done();
        },
      });
    const result = await session.exec({ command, stdin: io.stdin, signal: io.signal, stdout: collect(out), stderr: collect(err) });
    return {
      ...result,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    };
  };
}
