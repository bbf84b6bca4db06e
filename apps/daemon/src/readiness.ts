import { closeSync, writeSync } from 'node:fs';
import { toWireError, type WireError } from '@banger/errors';

/**
 * What bangerd writes on the readiness pipe when the CLI started it: one JSON
 * line, then the pipe closes. This is how the CLI shows the daemon's own
 * start-up error (bad config, already running) instead of a timeout.
 */
export type ReadinessMessage = { ready: true; pid: number; socket: string } | { error: WireError };

/** The env var naming the readiness fd; set only by the CLI's starter. */
export const READY_FD_ENV = 'BANGER_READY_FD';

/** Reports readiness or failure once, on the fd named by BANGER_READY_FD (no-op when unset). */
export class Readiness {
  private fd: number | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const raw = env[READY_FD_ENV];
    const fd = raw ? Number(raw) : NaN;
    if (Number.isInteger(fd) && fd > 2) this.fd = fd;
  }

  ready(socket: string): void {
    this.send({ ready: true, pid: process.pid, socket });
  }

  failed(error: unknown): void {
    this.send({ error: toWireError(error) });
  }

  private send(message: ReadinessMessage): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      writeSync(fd, `${JSON.stringify(message)}\n`);
      closeSync(fd);
    } catch {
      // The CLI may have given up waiting; the log still has the story.
    }
  }
}
