import type { Duplex } from 'node:stream';
import { serveSession, type Mux } from '@banger/agent';
import { handlers } from './handlers.js';
import { AGENT_VERSION } from './version.js';

export type Log = (line: string) => void;

/**
 * Serves the protocol on one connected byte stream; resolves when it ends.
 * `announce` for a channel whose host connection outlives the session (the
 * serial port): the host learns a new session opened behind it.
 */
export function serveConnection(io: Duplex, log: Log, options: { announce?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const mux: Mux = serveSession(io, { agentVersion: AGENT_VERSION, handlers, log, ...(options.announce ? { announce: true } : {}) });
    mux.once('close', () => resolve());
  });
}
