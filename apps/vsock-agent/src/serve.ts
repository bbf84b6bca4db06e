import type { Duplex } from 'node:stream';
import { serveSession, type Mux } from '@banger/agent';
import { handlers } from './handlers.js';
import { AGENT_VERSION } from './version.js';

export type Log = (line: string) => void;

/** Serves the protocol on one connected byte stream; resolves when it ends. */
export function serveConnection(io: Duplex, log: Log): Promise<void> {
  return new Promise((resolve) => {
    const mux: Mux = serveSession(io, { agentVersion: AGENT_VERSION, handlers, log });
    mux.once('close', () => resolve());
  });
}
