import type { Readable } from 'node:stream';
import { UserError } from '@banger/errors';
import type { AgentClient } from './client.js';
import { Channel, type ControlMessage } from './protocol.js';
import type { SessionInfo, SessionStartRequest } from './sessions-protocol.js';

/** The host side of the session operations, over an `AgentClient` (docs/agent.md, "Sessions"). */
export class SessionsClient {
  constructor(private readonly client: AgentClient) {
    if (!client.supports('session-start'))
      throw new UserError('SESSION_UNSUPPORTED', `the guest agent ${client.hello.agentVersion} has no sessions (it predates them)`, {
        hint: 'restart the VM so it gets the agent of this banger version',
      });
  }

  /** Starts a session; resolves once its command runs (or rejects: bad name, duplicate, cannot run). */
  start(request: Omit<SessionStartRequest, 'op'>): Promise<SessionInfo> {
    return this.client.request<SessionInfo>({ op: 'session-start', ...request });
  }

  list(): Promise<SessionInfo[]> {
    return this.client.request<SessionInfo[]>({ op: 'session-list' });
  }

  /** One session; SESSION_NOT_FOUND when there is none of that name. */
  async get(name: string): Promise<SessionInfo> {
    const [info] = await this.client.request<SessionInfo[]>({ op: 'session-list', name });
    return info!;
  }

  /** The session's kept output (the last `tail` lines), then with `follow` what comes until it ends. `done` resolves when all was sent. */
  logs(name: string, options: { tail?: number; follow?: boolean } = {}): { output: Readable; ready: Promise<void>; done: Promise<{ offset: number }>; cancel(): void } {
    const stream = this.client.open({ op: 'session-logs', name, ...options });
    const done = this.client.resultOf<{ offset: number }>(stream);
    done.catch(() => undefined);
    // The agent says `started` once it found the session, before any output (an unknown one is an error instead).
    const ready = new Promise<void>((resolve, reject) => {
      stream.on('control', (m: ControlMessage) => m.type === 'started' && resolve());
      done.then(() => resolve(), reject);
    });
    ready.catch(() => undefined);
    return { output: stream.input(Channel.stdout), ready, done, cancel: () => stream.close() };
  }

  /** Writes bytes to the session's stdin; resolves with how many it took. */
  send(name: string, input: Buffer | Readable): Promise<{ bytes: number }> {
    const stream = this.client.open({ op: 'session-send', name });
    const result = this.client.resultOf<{ bytes: number }>(stream);
    const sink = stream.output(Channel.stdin);
    sink.on('error', () => undefined);
    if (Buffer.isBuffer(input)) sink.end(input);
    else input.pipe(sink);
    return result;
  }

  /** Sends a signal to the session's process group; resolves with its state after. */
  signal(name: string, signal: string): Promise<SessionInfo> {
    return this.client.request<SessionInfo>({ op: 'session-signal', name, signal });
  }

  /** A tty session's new window size. */
  resize(name: string, rows: number, cols: number): Promise<SessionInfo> {
    return this.client.request<SessionInfo>({ op: 'session-resize', name, rows, cols });
  }

  /** Forgets an ended session (its output and record). */
  rm(name: string): Promise<Record<string, never>> {
    return this.client.request({ op: 'session-rm', name });
  }
}
