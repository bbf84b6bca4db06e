import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError } from '@banger/errors';
import type { GuestExec } from './guest-exec.js';

/**
 * What agentGuestExec needs of the host end of the guest agent (an
 * `AgentClient` from @banger/agent fits): start a command, stream its stdin,
 * read its output, learn its end. Structural, so this library does not
 * depend on the agent's.
 */
export interface AgentExecClient {
  exec(request: { argv: string[] }): {
    stdin: Writable;
    stdout: Readable;
    stderr: Readable;
    exited: Promise<{ code: number | null; signal: string | null }>;
    kill(signal?: string): void;
  };
}

/**
 * A GuestExec over the guest agent: `sh -c command` on one agent stream, its
 * stdin streamed through the stream's credit-based flow control (a tar of
 * the workspace), stdout and stderr collected (keep them small). No ssh
 * handshake and no cipher: under TCG the guest's ssh crypto is what made
 * the sync slow. Cancelling kills the command.
 */
export function agentGuestExec(client: AgentExecClient): GuestExec {
  return async (command, io = {}) => {
    if (io.signal?.aborted) throw new CancelledError('guest command: cancelled');
    const proc = client.exec({ argv: ['/bin/sh', '-c', command] });
    proc.stdin.on('error', () => undefined);
    const stdout = collect(proc.stdout);
    const stderr = collect(proc.stderr);
    const input = io.stdin;
    if (input instanceof Readable) {
      // A command that exits without reading it all ends the stream: the rest is dropped, the status tells.
      pipeline(input, proc.stdin).catch(() => undefined);
    } else {
      proc.stdin.end(input);
    }
    const onAbort = (): void => proc.kill('SIGKILL');
    io.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const end = await proc.exited;
      if (io.signal?.aborted) throw new CancelledError('guest command: cancelled');
      return { exitCode: end.code, ...(end.signal ? { signal: end.signal } : {}), stdout: (await stdout).toString('utf8'), stderr: (await stderr).toString('utf8') };
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
    }
  };
}

function collect(readable: Readable): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    readable.on('data', (c: Buffer) => chunks.push(c));
    readable.on('end', () => resolve(Buffer.concat(chunks)));
    // A stream that died with the connection: `exited` carries the error.
    readable.on('error', () => resolve(Buffer.concat(chunks)));
    readable.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
