import { invalidParamsError } from './param-error.js';
import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { CancelledError, InternalError, UserError, toWireError, type ErrorCode } from '@banger/errors';
import { clientEnvelopeSchema, MAX_LINE_BYTES, type RequestId } from './protocol/envelope.js';
import { LineSplitter, sniffRequestId } from './protocol/line-splitter.js';
import { isMethodName, methods, type ControlOf, type EventOf, type HandlerResultOf, type MethodName, type ParsedParamsOf } from './methods/index.js';
import { whenDrained } from './protocol/when-drained.js';

/** What a handler gets besides its params. */
export interface HandlerContext<M extends MethodName = MethodName> {
  /** Aborted when the client cancels, disconnects, or the daemon shuts down. */
  signal: AbortSignal;
  /** Streams one progress event to the caller (dropped once the call has ended). */
  emit(event: EventOf<M>): void;
  id: RequestId;
  method: M;
  /** The bytes the client sends as `{"id","input"}` (ends on `input: null`, or when the call ends). */
  input: Readable;
  /** Resolves once the replies queued for this client are below a small bound: a streaming handler waits before sending more. */
  drained(): Promise<void>;
  /** Calls `listener` with each control message the client sends to this call (`{"id","control"}`), checked by the method's `control` schema. */
  onControl(listener: (message: ControlOf<M>) => void): void;
}

/** Serves one method: validated params in, a result (validated before sending) out. */
export type Handler<M extends MethodName> = (
  params: ParsedParamsOf<M>,
  ctx: HandlerContext<M>,
) => Promise<HandlerResultOf<M>> | HandlerResultOf<M>;

/** The subset of pino's logger the server uses, so tests can pass anything. */
export interface ApiLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ApiServerOptions {
  log?: ApiLogger;
  /** Longest accepted request line; default MAX_LINE_BYTES (1 MiB). */
  maxLineBytes?: number;
  /** Connections served at once; the next one is told why and closed. Default API_LIMITS.connections. */
  maxConnections?: number;
  /** Replies a connection may leave unread before the server stops reading its requests. Default API_LIMITS.pauseBytes. */
  pauseBytes?: number;
  /** Unread replies at which the connection is dropped (a client that never reads). Default API_LIMITS.dropBytes. */
  dropBytes?: number;
}

/**
 * What one local client can make the daemon hold: at most this many
 * connections (each with at most one partial request line of MAX_LINE_BYTES),
 * and per connection replies queued for a client that does not read — past
 * `pauseBytes` the daemon stops reading that connection's requests until the
 * client catches up, past `dropBytes` (a stream of events the client never
 * reads) it drops the connection. Worst case ≈ connections × (1 MiB + 32 MiB).
 */
export const API_LIMITS = { connections: 128, pauseBytes: 4 * 1024 * 1024, dropBytes: 32 * 1024 * 1024 } as const;

const silentLog: ApiLogger = { debug() {}, info() {}, warn() {}, error() {} };

interface InFlight {
  method: string;
  controller: AbortController;
  done: Promise<void>;
  input: PassThrough;
  controlListeners: Array<(message: never) => void>;
}

/** Replies queued for a client above which `drained()` waits (well under pauseBytes). */
const DRAINED_BYTES = 1024 * 1024;
/**
 * Call input a handler has not consumed yet, at most. An honest client keeps
 * less unacknowledged (the CLI: 4 MiB); past this the call is aborted, so a
 * client ignoring acks (or sending input to a method that takes none) cannot
 * fill the daemon.
 */
const INPUT_BUFFER_LIMIT = 16 * 1024 * 1024;

/**
 * The daemon end of the NDJSON protocol. Each connection is independent: a
 * client that sends garbage gets an error reply and never disturbs another.
 */
export class ApiServer {
  private readonly handlers = new Map<string, Handler<MethodName>>();
  private readonly connections = new Set<Connection>();
  private readonly log: ApiLogger;
  private readonly maxLineBytes: number;
  private readonly limits: { connections: number; pauseBytes: number; dropBytes: number };
  private readonly failures = new FailureLogBudget();
  private server: Server | undefined;

  constructor(options: ApiServerOptions = {}) {
    this.log = options.log ?? silentLog;
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
    this.limits = {
      connections: options.maxConnections ?? API_LIMITS.connections,
      pauseBytes: options.pauseBytes ?? API_LIMITS.pauseBytes,
      dropBytes: options.dropBytes ?? API_LIMITS.dropBytes,
    };
  }

  /** Requests being served now, on every connection. */
  requestsInFlight(): number {
    let count = 0;
    for (const connection of this.connections) count += connection.inFlight.size;
    return count;
  }

  /**
   * Resolves once no request has been in flight for `quietMs` (checked every
   * 100 ms), or after `maxWaitMs` whatever the traffic (a client following
   * logs for hours must not hold back background work for ever). For work
   * the daemon does for later — it should not share the host with a
   * user's command running through the daemon now.
   */
  async whenQuiet(quietMs: number, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + maxWaitMs;
    let quietSince = this.requestsInFlight() === 0 ? Date.now() : undefined;
    while (!signal?.aborted && Date.now() < deadline) {
      if (quietSince !== undefined && Date.now() - quietSince >= quietMs) return;
      await new Promise((resolve) => setTimeout(resolve, 100).unref());
      if (this.requestsInFlight() > 0) quietSince = undefined;
      else quietSince ??= Date.now();
    }
  }

  /** Registers the handler of `method`; each method has exactly one. */
  handle<M extends MethodName>(method: M, handler: Handler<M>): this {
    if (this.handlers.has(method)) throw new InternalError('API_DUPLICATE_HANDLER', `method ${method} already has a handler`);
    this.handlers.set(method, handler as unknown as Handler<MethodName>);
    return this;
  }

  /** Methods of the registry that have no handler yet (the daemon refuses to start with any). */
  unhandledMethods(): string[] {
    return Object.keys(methods).filter((name) => !this.handlers.has(name));
  }

  /** Serves one already-connected socket (what `listen` does per connection; tests use it directly). */
  attach(socket: Socket): void {
    if (this.connections.size >= this.limits.connections) {
      this.log.warn({ connections: this.connections.size }, 'too many connections; refusing one');
      socket.on('error', () => undefined);
      const error = new UserError('API_TOO_MANY_CONNECTIONS', `the daemon already serves ${this.connections.size} connections (the limit)`, {
        hint: 'close other banger clients (a script holding connections open?) and retry',
      });
      socket.end(`${JSON.stringify({ id: null, error: toWireError(error) })}\n`);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    const connection = new Connection(socket, this.handlers, this.log, this.maxLineBytes, this.limits, this.failures);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }

  /** Listens on a Unix socket path. The caller prepares the directory and removes a stale file. */
  async listen(socketPath: string): Promise<void> {
    const server = createServer((socket) => this.attach(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.log.error({ err: error }, 'socket server error'));
    this.server = server;
  }

  /** Number of calls still running, across all connections. */
  get inFlightCount(): number {
    let n = 0;
    for (const c of this.connections) n += c.inFlight.size;
    return n;
  }

  /**
   * Stops accepting connections, gives in-flight calls `graceMs` to finish,
   * aborts the rest (their clients get a CancelledError), then closes every
   * connection once its replies are written.
   */
  async close(options: { graceMs?: number; reason?: string } = {}): Promise<void> {
    const closed = this.server ? new Promise<void>((resolve) => this.server?.close(() => resolve())) : Promise.resolve();
    const reason = options.reason ?? 'daemon is shutting down';
    for (const c of this.connections) c.closing = reason;
    const pending = [...this.connections].flatMap((c) => [...c.inFlight.values()].map((f) => f.done));
    if (pending.length > 0) {
      await within(Promise.all(pending), options.graceMs ?? 5_000);
      for (const c of this.connections) c.abortAll(reason);
      // A handler that ignores its signal must not hold the shutdown forever.
      await within(Promise.all(pending), 2_000);
    }
    await Promise.all([...this.connections].map((c) => c.end()));
    await closed;
  }
}

/** Settles when `promise` does or after `ms`, whichever comes first. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/**
 * At most `perSecond` "request failed" lines for callers' errors a second,
 * across the daemon; the rest are counted and reported in the next line that
 * gets through, so a client sending garbage in a loop cannot fill the disk.
 */
export class FailureLogBudget {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(private readonly perSecond = 20, private readonly now: () => number = () => Date.now()) {}

  log(log: ApiLogger, fields: Record<string, unknown>): void {
    const now = this.now();
    if (now - this.windowStart >= 1_000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.suppressed += 1;
      return;
    }
    this.inWindow += 1;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    log.info(suppressed > 0 ? { ...fields, suppressed } : fields, 'request failed');
  }
}

class Connection {
  readonly inFlight = new Map<RequestId, InFlight>();
  /** Set when the server is stopping: new requests are refused with this reason. */
  closing: string | undefined;
  private readonly splitter: LineSplitter;

  constructor(
    private readonly socket: Socket,
    private readonly handlers: Map<string, Handler<MethodName>>,
    private readonly log: ApiLogger,
    maxLineBytes: number,
    private readonly limits: { pauseBytes: number; dropBytes: number },
    private readonly failures: FailureLogBudget,
  ) {
    this.splitter = new LineSplitter(maxLineBytes);
    socket.on('data', (data: Buffer) => this.onData(data));
    // Reading resumes once the client has taken the replies it left queued.
    socket.on('drain', () => {
      if (socket.isPaused()) socket.resume();
    });
    socket.on('error', (error) => this.log.debug({ err: error }, 'client connection error'));
    socket.once('close', () => this.abortAll('client disconnected'));
  }

  abortAll(reason: string): void {
    for (const call of this.inFlight.values()) call.controller.abort(new CancelledError(reason));
  }

  /** Ends the connection after everything queued has been written. */
  end(): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      // A client that never reads must not hold the daemon's shutdown hostage.
      setTimeout(() => this.socket.destroy(), 2_000).unref();
    });
  }

  private onData(data: Buffer): void {
    for (const item of this.splitter.push(data)) {
      if (item.kind === 'overflow') {
        const id = sniffRequestId(item.head);
        this.log.warn({ id }, 'request line too long; closing connection');
        this.send({ id, error: toWireError(protocolError('PROTOCOL_LINE_TOO_LONG', `request line longer than ${MAX_LINE_BYTES} bytes`)) });
        this.socket.end();
        return;
      }
      this.onLine(item.line);
    }
  }

  private onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.send({ id: null, error: toWireError(protocolError('PROTOCOL_INVALID_JSON', `request is not valid JSON: ${(error as Error).message}`)) });
      return;
    }
    const parsed = clientEnvelopeSchema.safeParse(message);
    if (!parsed.success) {
      const why = parsed.error.issues[0]?.message ?? 'invalid';
      this.send({ id: null, error: toWireError(protocolError('PROTOCOL_INVALID_ENVELOPE', `request envelope is invalid: ${why}`)) });
      return;
    }
    const envelope = parsed.data;
    if ('input' in envelope) {
      const call = this.inFlight.get(envelope.id);
      const input = call?.input;
      if (!call || !input || input.writableEnded) return; // a late chunk for a call that ended
      if (envelope.input === null) input.end();
      else input.write(Buffer.from(envelope.input, 'base64'));
      if (input.writableLength > INPUT_BUFFER_LIMIT) {
        call.controller.abort(new UserError('API_INPUT_OVERFLOW', `request ${envelope.id}: more than ${INPUT_BUFFER_LIMIT} bytes of input not yet consumed`, { hint: 'send input only as fast as the call acknowledges it' }));
        input.destroy();
      }
      return;
    }
    if ('control' in envelope) {
      const call = this.inFlight.get(envelope.id);
      if (!call || !isMethodName(call.method)) return; // a late message for a call that ended
      const control = methods[call.method].control.safeParse(envelope.control);
      if (!control.success) {
        this.log.warn({ id: envelope.id, method: call.method }, 'ignored a control message the method does not take');
        return;
      }
      for (const listener of call.controlListeners) listener(control.data as never);
      return;
    }
    if ('cancel' in envelope) {
      this.inFlight.get(envelope.id)?.controller.abort(new CancelledError(`request ${envelope.id} cancelled by the client`));
      return;
    }
    this.start(envelope.id, envelope.method, envelope.params);
  }

  private start(id: RequestId, method: string, rawParams: unknown): void {
    if (this.closing !== undefined) {
      this.send({ id, error: toWireError(new InternalError('DAEMON_STOPPING', this.closing, { hint: 'run the command again; it starts a new daemon' })) });
      return;
    }
    if (this.inFlight.has(id)) {
      this.send({ id, error: toWireError(protocolError('PROTOCOL_DUPLICATE_ID', `request id ${JSON.stringify(id)} is already in flight on this connection`)) });
      return;
    }
    const controller = new AbortController();
    const call: InFlight = { method, controller, done: Promise.resolve(), input: new PassThrough(), controlListeners: [] };
    this.inFlight.set(id, call);
    call.done = this.run(id, method, rawParams, controller.signal, call).finally(() => {
      this.inFlight.delete(id);
      call.input.destroy();
    });
  }

  private async run(id: RequestId, method: string, rawParams: unknown, signal: AbortSignal, call: InFlight): Promise<void> {
    const input: Readable = call.input;
    const started = Date.now();
    let finished = false;
    try {
      if (!isMethodName(method)) {
        throw new UserError('API_UNKNOWN_METHOD', `unknown method "${method}"`, { hint: 'the CLI and daemon versions may differ: run banger daemon restart' });
      }
      const handler = this.handlers.get(method);
      if (!handler) throw new InternalError('API_NO_HANDLER', `method "${method}" has no handler in this daemon`);
      const spec = methods[method];
      const params = spec.params.safeParse(rawParams);
      if (!params.success) throw invalidParamsError(method, params.error);
      const emit = (event: unknown): void => {
        if (!finished) this.send({ id, event: event ?? null });
      };
      const drained = (): Promise<void> => whenDrained(this.socket, DRAINED_BYTES);
      const onControl = (listener: (message: never) => void): void => {
        call.controlListeners.push(listener);
      };
      const value = await handler(params.data as never, { signal, emit, id, method, input, drained, onControl });
      const result = spec.result.safeParse(value);
      if (!result.success) {
        throw new InternalError('API_INVALID_RESULT', `${method}: the daemon produced a result that does not match its schema`, { cause: result.error });
      }
      finished = true;
      this.send({ id, result: result.data ?? null });
      this.log.debug({ id, method, ms: Date.now() - started }, 'request served');
    } catch (error) {
      finished = true;
      const reported = signal.aborted && !(error instanceof CancelledError) && signal.reason instanceof CancelledError ? signal.reason : error;
      if (reported instanceof CancelledError || reported instanceof UserError) {
        // The caller's mistake or choice: one short line (no stack), and a flood of them is summarised.
        this.failures.log(this.log, { id, method, code: reported.code, message: reported.message, ms: Date.now() - started });
      } else {
        this.log.error({ id, method, err: error, ms: Date.now() - started }, 'request failed');
      }
      this.send({ id, error: toWireError(reported) });
    }
  }

  private send(message: object): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(`${JSON.stringify(message)}\n`);
    const queued = this.socket.writableLength;
    if (queued > this.limits.dropBytes) {
      this.log.warn({ queued }, 'client does not read its replies; dropping the connection');
      this.socket.destroy();
    } else if (queued > this.limits.pauseBytes && !this.socket.isPaused()) {
      // No new requests from a client that does not read what it asked for.
      this.socket.pause();
    }
  }
}

function protocolError(code: ErrorCode, message: string): UserError {
  return new UserError(code, message, { hint: 'send one JSON object per line: {"id":1,"method":"hello","params":{...}}' });
}
