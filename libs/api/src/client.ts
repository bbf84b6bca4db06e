import { invalidParamsError } from './param-error.js';
import { connect, type Socket } from 'node:net';
import { BangerError, CancelledError, InternalError, fromWireError, type WireError } from '@banger/errors';
import { readServerEnvelope, type RequestId } from './protocol/envelope.js';
import { LineSplitter } from './protocol/line-splitter.js';
import { whenDrained } from './protocol/when-drained.js';
import { methods, type ControlOf, type EventOf, type MethodName, type ParamsOf, type ResultOf } from './methods/index.js';

/** Options of one call. */
export interface CallOptions<M extends MethodName> {
  /** Receives each progress event the daemon streams before the result. */
  onEvent?: (event: EventOf<M>) => void;
  /** Aborting sends `{"id","cancel":true}` and rejects with a CancelledError. */
  signal?: AbortSignal;
  /** Gives up (cancelling the call on the daemon) after this many ms. */
  timeoutMs?: number;
  /** Called once the request is sent, with the function that sends its input (`null`: the end). */
  onSendInput?: (send: (chunk: Buffer | null) => void) => void;
  /** Called once the request is sent, with the function that sends control messages to the call (`vm.exec`: a resize). */
  onSendControl?: (send: (message: ControlOf<M>) => void) => void;
}

/** Options of ApiClient.connect. */
export interface ConnectOptions {
  /** Give up connecting after this many ms (default 5000). */
  timeoutMs?: number;
  /** Longest accepted reply line (default 64 MiB: listings can be big, unlike requests). */
  maxLineBytes?: number;
}

/**
 * Thrown by ApiClient.connect when nothing listens on the socket (no file, or
 * a stale one). Callers that may start the daemon catch exactly this.
 */
export class DaemonNotRunningError extends BangerError {
  constructor(readonly socketPath: string, cause?: unknown) {
    super('DAEMON_NOT_RUNNING', `bangerd is not running (no one listens on ${socketPath})`, {
      hint: 'start it with: banger daemon start',
      cause,
    });
  }
}

interface Pending {
  method: MethodName;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onEvent?: (event: never) => void;
}

/**
 * The CLI end of the protocol: one connection, many concurrent calls, each
 * with typed params and results inferred from the method registry.
 */
export class ApiClient {
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private closedError: BangerError | undefined;
  private resultsCheckedByDaemon = false;

  private constructor(private readonly socket: Socket, readonly socketPath: string, maxLineBytes: number) {
    const splitter = new LineSplitter(maxLineBytes);
    socket.on('data', (data: Buffer) => {
      for (const item of splitter.push(data)) {
        if (item.kind === 'overflow') {
          this.fail(new InternalError('PROTOCOL_LINE_TOO_LONG', `reply from bangerd longer than ${maxLineBytes} bytes`));
          socket.destroy();
          return;
        }
        this.onLine(item.line);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () =>
      this.fail(new InternalError('DAEMON_DISCONNECTED', 'lost the connection to bangerd', { hint: 'see banger daemon logs' })),
    );
  }

  /** Connects to the daemon's socket. Throws DaemonNotRunningError when nothing listens. */
  static connect(socketPath: string, options: ConnectOptions = {}): Promise<ApiClient> {
    const timeoutMs = options.timeoutMs ?? 5_000;
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new InternalError('DAEMON_CONNECT_TIMEOUT', `connecting to bangerd at ${socketPath} timed out after ${timeoutMs} ms`, { hint: 'see banger daemon logs' }));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new ApiClient(socket, socketPath, options.maxLineBytes ?? 64 * 1024 * 1024));
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') reject(new DaemonNotRunningError(socketPath, error));
        else if (error.code === 'EACCES') {
          reject(new InternalError('DAEMON_SOCKET_DENIED', `permission denied on ${socketPath}`, { hint: 'the daemon belongs to another user; run banger as that user', cause: error }));
        } else reject(new InternalError('DAEMON_CONNECT_FAILED', `cannot connect to bangerd at ${socketPath}: ${error.message}`, { cause: error }));
      });
    });
  }

  /** Calls `method`; resolves with its validated result or rejects with the daemon's typed error. */
  call<M extends MethodName>(method: M, params: ParamsOf<M>, options: CallOptions<M> = {}): Promise<ResultOf<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const spec = methods[method];
    const checked = spec.params.safeParse(params);
    if (!checked.success) {
      return Promise.reject(invalidParamsError(method, checked.error));
    }
    if (options.signal?.aborted) return Promise.reject(new CancelledError(`${method}: cancelled`));
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const giveUp = (error: BangerError): void => {
        if (!this.pending.has(id)) return;
        cleanup();
        this.write({ id, cancel: true });
        reject(error);
      };
      const onAbort = (): void => giveUp(new CancelledError(`${method}: cancelled`));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(
          () => giveUp(new InternalError('DAEMON_TIMEOUT', `${method}: no answer from bangerd within ${options.timeoutMs} ms`, { hint: 'see banger daemon logs' })),
          options.timeoutMs,
        );
      }
      this.pending.set(id, {
        method,
        resolve: (value) => {
          cleanup();
          resolve(value as ResultOf<M>);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
        ...(options.onEvent ? { onEvent: options.onEvent as (event: never) => void } : {}),
      });
      this.write({ id, method, params: checked.data ?? {} });
      options.onSendInput?.((chunk) => {
        if (this.pending.has(id)) this.write({ id, input: chunk === null ? null : chunk.toString('base64') });
      });
      options.onSendControl?.((message) => {
        if (this.pending.has(id)) this.write({ id, control: message });
      });
    });
  }

  /**
   * Stops re-checking results: call it once `hello` showed a daemon of this
   * client's own version and protocol, which checks every result against these
   * very schemas before sending it (ApiServer). Checking again cost each CLI
   * start the construction of the result's schemas (issue #19). Events are
   * still checked: the daemon sends them unchecked.
   */
  trustResults(): void {
    this.resultsCheckedByDaemon = true;
  }

  /** Closes the connection; pending calls reject. The daemon aborts their work. */
  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private write(message: object): void {
    if (!this.socket.destroyed) this.socket.write(`${JSON.stringify(message)}\n`);
  }

  /** Stops (true) or resumes (false) reading replies: a client whose own output is full lets the daemon's `drained()` wait. */
  throttle(paused: boolean): void {
    if (paused) this.socket.pause();
    else this.socket.resume();
  }

  /** Resolves once the connection's outgoing buffer has drained (a client streaming input waits here). */
  drained(): Promise<void> {
    return whenDrained(this.socket);
  }

  private onLine(line: string): void {
    let envelope;
    try {
      envelope = readServerEnvelope(JSON.parse(line));
    } catch (error) {
      this.fail(new InternalError('PROTOCOL_INVALID_REPLY', 'bangerd sent a reply that is not a valid envelope', { cause: error }));
      this.socket.destroy();
      return;
    }
    if (envelope.id === null) {
      // The daemon could not tell which request it answers: every pending call is suspect.
      const error = fromWireError((envelope as { error: WireError }).error);
      for (const call of [...this.pending.values()]) call.reject(error);
      return;
    }
    const call = this.pending.get(envelope.id);
    if (!call) return; // a late reply to a call we gave up on
    if ('event' in envelope) {
      const event = methods[call.method].event.safeParse(envelope.event);
      if (event.success) call.onEvent?.(event.data as never);
    } else if ('result' in envelope) {
      if (this.resultsCheckedByDaemon && call.method !== 'hello') return call.resolve(envelope.result);
      const result = methods[call.method].result.safeParse(envelope.result);
      if (result.success) call.resolve(result.data);
      else call.reject(new InternalError('API_INVALID_RESULT', `${call.method}: bangerd's reply does not match the schema`, { hint: 'the CLI and daemon versions may differ: run banger daemon restart', cause: result.error }));
    } else {
      call.reject(fromWireError((envelope as { error: WireError }).error));
    }
  }

  private fail(error: BangerError): void {
    this.closedError ??= error;
    for (const call of [...this.pending.values()]) call.reject(error);
  }
}
