import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { toWireError, UserError } from '@banger/errors';
import { Mux, type MuxStream } from './mux.js';
import { PROTOCOL_VERSION, type AgentHello, type HostHello, type OpenRequest } from './protocol.js';

/** Serves one kind of request on its stream; throws (or rejects) to answer with an error. */
export type OpHandler<R extends OpenRequest = OpenRequest> = (stream: MuxStream, request: R) => void | Promise<void>;

export type OpHandlers = { [K in OpenRequest['op']]: OpHandler<Extract<OpenRequest, { op: K }>> };

export interface SessionOptions {
  agentVersion: string;
  handlers: OpHandlers;
  /** The protocol this agent speaks (tests pass another one). */
  protocol?: number;
  /** Say hello unasked as the session opens (AgentHello.announce): for a channel the host may hold across agent sessions. */
  announce?: boolean;
  log?: (line: string) => void;
}

/** Seconds since boot, from /proc/uptime. */
export function bootUptimeSeconds(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

/**
 * The agent end of one connection: answers the host's hello, then serves
 * each stream the host opens with the handler of its `op`. Requests before
 * a compatible hello are refused. Returns the Mux (its `close` event ends the session).
 */
export function serveSession(io: Duplex, options: SessionOptions): Mux {
  const mux = new Mux(io, { role: 'agent' });
  const protocol = options.protocol ?? PROTOCOL_VERSION;
  const log = options.log ?? (() => undefined);
  let greeted = false;
  mux.on('protocol-error', (error: Error) => log(`protocol error: ${error.message}`));
  const helloOf = (): AgentHello => ({ protocol, agentVersion: options.agentVersion, pid: process.pid, uptimeSeconds: bootUptimeSeconds(), ops: Object.keys(options.handlers) });
  if (options.announce) mux.sendHello({ ...helloOf(), announce: true });
  mux.on('hello', (hello: HostHello) => {
    const answer = helloOf();
    if (hello?.protocol !== protocol) {
      answer.refused = `host speaks protocol ${String(hello?.protocol)}, this agent speaks ${protocol}`;
      log(`hello from banger ${String(hello?.hostVersion)}: refused (${answer.refused})`);
      mux.sendHello(answer);
      mux.io.end();
      return;
    }
    greeted = true;
    log(`hello from banger ${hello.hostVersion}`);
    mux.sendHello(answer);
  });
  mux.on('open', (stream: MuxStream, request: OpenRequest) => {
    const fail = (error: unknown) => {
      stream.control({ type: 'error', error: toWireError(error) });
      stream.close();
    };
    if (!greeted) return fail(new UserError('AGENT_BAD_REQUEST', 'guest agent: a request before the hello'));
    const handler = (options.handlers as Record<string, OpHandler | undefined>)[request?.op];
    if (handler === undefined) return fail(new UserError('AGENT_BAD_REQUEST', `guest agent: unknown operation "${String(request?.op)}"`));
    try {
      Promise.resolve(handler(stream, request)).catch(fail);
    } catch (error) {
      fail(error);
    }
  });
  return mux;
}
