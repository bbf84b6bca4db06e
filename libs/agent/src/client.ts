import type { Duplex, Readable, Writable } from 'node:stream';
import { fromWireError, InternalError, type BangerError } from '@banger/errors';
import { Mux, type MuxStream } from './mux.js';
import {
  Channel,
  PROTOCOL_VERSION,
  type AgentHello,
  type ClockResult,
  type ControlMessage,
  type ExecRequest,
  type FileStat,
  type GuestFacts,
  type OpenRequest,
} from './protocol.js';

export interface ConnectOptions {
  /** banger's version, sent in the hello. */
  hostVersion: string;
  /** How long to wait for the agent's hello. Default 10 s. */
  timeoutMs?: number;
  /** The protocol version to announce (tests use another one to see the mismatch error). */
  protocol?: number;
}

export interface ExecEnd {
  code: number | null;
  signal: string | null;
}

/** A command running in the guest. */
export interface RemoteProcess {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  /** Resolves with the pid once the command started; rejects when it could not be started. */
  started: Promise<number>;
  /** Resolves when the command ended and all its output was sent. */
  exited: Promise<ExecEnd>;
  /** Sends a signal to the command (`SIGTERM`, …). */
  kill(signal?: string): void;
  /** Tells a pty command its window size. */
  resize(cols: number, rows: number): void;
}

export interface RunResult extends ExecEnd {
  stdout: Buffer;
  stderr: Buffer;
}

/** The host end of the agent protocol over one byte stream. */
export class AgentClient {
  private constructor(
    private readonly mux: Mux,
    readonly hello: AgentHello,
  ) {}

  /** Says hello and waits for the agent's; rejects with AGENT_PROTOCOL_MISMATCH naming both versions. */
  static async connect(io: Duplex, options: ConnectOptions): Promise<AgentClient> {
    const mux = new Mux(io, { role: 'host' });
    const protocol = options.protocol ?? PROTOCOL_VERSION;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const hello = await new Promise<AgentHello>((resolve, reject) => {
      const fail = (error: BangerError) => {
        clearTimeout(timer);
        mux.destroy();
        reject(error);
      };
      const timer = setTimeout(() => fail(new InternalError('AGENT_HELLO_TIMEOUT', `guest agent: no hello after ${timeoutMs} ms`)), timeoutMs);
      const sayHello = () => mux.sendHello({ protocol, hostVersion: options.hostVersion });
      // One listener for the connection's life, so an announcement in the same read as the answer is not missed.
      let greeted = false;
      mux.on('hello', (h: AgentHello) => {
        if (greeted) {
          // A new agent session behind this connection (the agent restarted, or its port was re-opened): the one that
          // took our requests is gone, and so are they. Failing them beats waiting forever for answers that cannot come.
          // Other hellos after the greeting are answers to a hello said twice, and mean nothing.
          if (h?.announce) mux.destroy(new InternalError('AGENT_RESTARTED', 'guest agent: it restarted behind the connection, and what it was doing for this request was stopped', { hint: 'run it again' }));
          return;
        }
        // A session that just opened may have missed our hello (the port was closed when it came): say it again.
        if (h?.announce) return sayHello();
        greeted = true;
        clearTimeout(timer);
        mux.removeAllListeners('close');
        resolve(h);
      });
      mux.once('close', (error?: Error) =>
        fail(new InternalError('AGENT_DISCONNECTED', `guest agent: the connection closed before its hello${error ? ` (${error.message})` : ''}`, { cause: error })),
      );
      sayHello();
    });
    if (hello.protocol !== protocol || hello.refused !== undefined) {
      mux.destroy();
      throw new InternalError(
        'AGENT_PROTOCOL_MISMATCH',
        `guest agent ${hello.agentVersion} speaks agent protocol ${hello.protocol}, this banger (${options.hostVersion}) speaks ${protocol}`,
        { hint: 'restart the VM so it gets the agent of this banger version' },
      );
    }
    return new AgentClient(mux, hello);
  }

  get closed(): boolean {
    return this.mux.isClosed;
  }

  close(): void {
    this.mux.destroy();
  }

  /** Starts a command; its stdin stays open until `stdin.end()`. */
  exec(request: Omit<ExecRequest, 'op'>): RemoteProcess {
    const stream = this.mux.open({ op: 'exec', ...request });
    let onStarted!: (pid: number) => void;
    let onExit!: (end: ExecEnd) => void;
    let fail!: (error: Error) => void;
    const started = new Promise<number>((resolve, reject) => {
      onStarted = resolve;
      fail = reject;
    });
    const exited = new Promise<ExecEnd>((resolve, reject) => {
      onExit = resolve;
      const previous = fail;
      fail = (error) => {
        previous(error);
        reject(error);
      };
    });
    started.catch(() => undefined);
    exited.catch(() => undefined);
    let ended = false;
    stream.on('control', (message: ControlMessage) => {
      if (message.type === 'started') onStarted(message.pid);
      else if (message.type === 'exit') {
        ended = true;
        onExit({ code: message.code, signal: message.signal });
        stream.close();
      } else if (message.type === 'error') {
        ended = true;
        fail(fromWireError(message.error));
        stream.close();
      }
    });
    stream.on('close', (error?: Error) => {
      if (!ended) fail(error ?? new InternalError('AGENT_DISCONNECTED', `guest agent: the stream of ${request.argv[0]} closed before it exited`));
    });
    return {
      stdin: stream.output(Channel.stdin),
      stdout: stream.input(Channel.stdout),
      stderr: stream.input(Channel.stderr),
      started,
      exited,
      kill: (signal = 'SIGTERM') => stream.control({ type: 'signal', signal }),
      resize: (cols, rows) => stream.control({ type: 'resize', cols, rows }),
    };
  }

  /** Runs a command to its end, feeding `input` (or nothing) and collecting its output. */
  async run(request: Omit<ExecRequest, 'op'>, input?: Buffer | string): Promise<RunResult> {
    const p = this.exec(request);
    const out = collect(p.stdout);
    const err = collect(p.stderr);
    p.stdin.on('error', () => undefined);
    p.stdin.end(input);
    const end = await p.exited;
    return { ...end, stdout: await out, stderr: await err };
  }

  /** Writes a file in the guest (atomically: a temp file renamed into place). */
  async putFile(path: string, content: Buffer | Readable, options: { mode?: number; owner?: string; group?: string } = {}): Promise<{ size: number }> {
    const stream = this.mux.open({ op: 'put-file', path, ...options });
    const result = this.resultOf<{ size: number }>(stream);
    const sink = stream.output(Channel.stdin);
    if (Buffer.isBuffer(content)) sink.end(content);
    else content.pipe(sink);
    return result;
  }

  /** Reads a file from the guest: its stat first, then its bytes. */
  async getFile(path: string): Promise<{ stat: FileStat; content: Readable; done: Promise<unknown> }> {
    const stream = this.mux.open({ op: 'get-file', path });
    const stat = new Promise<FileStat>((resolve, reject) => {
      stream.on('control', (m: ControlMessage) => (m.type === 'stat' ? resolve(m.stat) : m.type === 'error' ? reject(fromWireError(m.error)) : undefined));
      stream.on('close', (error?: Error) => reject(error ?? new InternalError('AGENT_DISCONNECTED', `guest agent: get ${path}: the stream closed`)));
    });
    const done = this.resultOf<unknown>(stream);
    done.catch(() => undefined);
    return { stat: await stat, content: stream.input(Channel.stdout), done };
  }

  /** Reads a whole (small) file. */
  async readFile(path: string): Promise<{ stat: FileStat; content: Buffer }> {
    const { stat, content, done } = await this.getFile(path);
    const bytes = await collect(content);
    await done;
    return { stat, content: bytes };
  }

  facts(): Promise<GuestFacts> {
    return this.request<GuestFacts>({ op: 'facts' });
  }

  /** Compares (and with `set`, sets) the guest clock against the host's. */
  clock(options: { set?: boolean } = {}): Promise<ClockResult> {
    return this.request<ClockResult>({ op: 'clock', hostTimeMs: Date.now(), ...options });
  }

  /** Whether the agent serves an additive operation (it lists them in its hello; older agents list none). */
  supports(op: string): boolean {
    return this.hello.ops?.includes(op) ?? false;
  }

  /** Opens a stream for a request (op-specific helpers beside this class, e.g. sessions-client.ts). */
  open(request: OpenRequest): MuxStream {
    return this.mux.open(request);
  }

  request<T>(request: OpenRequest): Promise<T> {
    return this.resultOf<T>(this.mux.open(request));
  }

  /** The stream's `result` (or its error), after which the stream is closed. */
  resultOf<T>(stream: MuxStream): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      stream.on('control', (m: ControlMessage) => {
        if (m.type === 'result') {
          resolve(m.result as T);
          stream.close();
        } else if (m.type === 'error') {
          reject(fromWireError(m.error));
          stream.close();
        }
      });
      stream.on('close', (error?: Error) => reject(error ?? new InternalError('AGENT_DISCONNECTED', 'guest agent: the stream closed before its result')));
    });
  }
}

function collect(readable: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    readable.on('data', (c: Buffer) => chunks.push(c));
    readable.on('end', () => resolve(Buffer.concat(chunks)));
    readable.on('error', reject);
  });
}
