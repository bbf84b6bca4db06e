import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { InternalError } from '@banger/errors';
import { InChannel, OutChannel, type ChannelLink } from './channels.js';
import { encodeHeader, FrameDecoder, protocolError, type Frame } from './frames.js';
import { FrameType, INITIAL_WINDOW, type ControlMessage, type OpenRequest } from './protocol.js';

export interface MuxOptions {
  /** The host opens streams (odd ids); the agent accepts them. */
  role: 'host' | 'agent';
  /** Credit per channel (INITIAL_WINDOW); both ends of a connection must use the same value. */
  window?: number;
}

/**
 * Many logical streams over one byte stream. Each stream has numbered
 * channels (stdin 0, stdout 1, stderr 2, …), each with its own credit in
 * each direction. Emits `hello` (JSON), `open` (MuxStream, OpenRequest; agent
 * side), `error` (protocol errors, after which the connection is destroyed)
 * and `close`.
 */
export class Mux extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly streams = new Map<number, MuxStream>();
  private nextId = 1;
  private drainWaiters: Array<() => void> = [];
  readonly window: number;
  private closed = false;

  constructor(
    readonly io: Duplex,
    readonly options: MuxOptions,
  ) {
    super();
    this.window = options.window ?? INITIAL_WINDOW;
    io.on('data', (chunk: Buffer) => this.onData(chunk));
    io.on('drain', () => this.wakeDrainWaiters());
    io.on('error', (error) => this.shutdown(error));
    io.on('close', () => this.shutdown());
    io.on('end', () => this.shutdown());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** How many streams are open (for tests and `facts`). */
  get openStreams(): number {
    return this.streams.size;
  }

  sendHello(hello: object): void {
    this.write(FrameType.Hello, 0, Buffer.from(JSON.stringify(hello)));
  }

  /** Host side: opens a stream for a request. */
  open(request: OpenRequest): MuxStream {
    const id = this.nextId;
    this.nextId += 2;
    const stream = new MuxStream(this, id);
    if (this.closed) {
      process.nextTick(() => stream.onClose(new InternalError('AGENT_DISCONNECTED', 'agent channel: the connection is closed')));
      return stream;
    }
    this.streams.set(id, stream);
    this.write(FrameType.Open, id, Buffer.from(JSON.stringify(request)));
    return stream;
  }

  /** Ends the connection; open streams see `close`. */
  destroy(error?: Error): void {
    this.io.destroy();
    this.shutdown(error);
  }

  /** @internal Sends a frame whose payload is `prefix` (if any) followed by `payload`, without copying either. */
  write(type: FrameType, stream: number, payload: Buffer, prefix?: Buffer): boolean {
    if (this.closed || this.io.destroyed) return true;
    const length = payload.length + (prefix?.length ?? 0);
    const header = encodeHeader(type, stream, length);
    if (length === 0) return this.io.write(header);
    this.io.cork();
    this.io.write(prefix === undefined ? header : Buffer.concat([header, prefix]));
    const ok = this.io.write(payload);
    this.io.uncork();
    return ok;
  }

  /** @internal */
  drained(): Promise<void> {
    if (this.closed || !this.io.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      return this.violation(error as InternalError);
    }
    for (const frame of frames) {
      if (this.closed) return;
      this.onFrame(frame);
    }
  }

  private onFrame({ type, stream: id, payload }: Frame): void {
    if (type === FrameType.Hello) return void this.emit('hello', this.json(payload));
    if (type === FrameType.Open) {
      if (this.options.role !== 'agent') return this.violation(protocolError('the agent may not open streams'));
      if (id % 2 !== 1 || this.streams.has(id)) return this.violation(protocolError(`bad stream id ${id} in Open`));
      const request = this.json(payload) as OpenRequest | undefined;
      if (request === undefined) return;
      const stream = new MuxStream(this, id);
      this.streams.set(id, stream);
      this.emit('open', stream, request);
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return; // Late frames for a stream already closed on this side.
    switch (type) {
      case FrameType.Data:
        if (payload.length < 1) return this.violation(protocolError('empty Data frame'));
        return stream.onData(payload.readUInt8(0), payload.subarray(1));
      case FrameType.Window:
        if (payload.length !== 5) return this.violation(protocolError('malformed Window frame'));
        return stream.onWindow(payload.readUInt8(0), payload.readUInt32BE(1));
      case FrameType.Eof:
        if (payload.length !== 1) return this.violation(protocolError('malformed Eof frame'));
        return stream.onEof(payload.readUInt8(0));
      case FrameType.Control: {
        const message = this.json(payload) as ControlMessage | undefined;
        if (message !== undefined) stream.emit('control', message);
        return;
      }
      case FrameType.Close:
        return stream.onClose();
    }
  }

  private json(payload: Buffer): unknown {
    try {
      return JSON.parse(payload.toString('utf8'));
    } catch {
      this.violation(protocolError('a frame carries malformed JSON'));
      return undefined;
    }
  }

  /** @internal A broken rule of the protocol: reported as `protocol-error`, then the connection ends. */
  violation(error: InternalError): void {
    this.emit('protocol-error', error);
    this.destroy(error);
  }

  private shutdown(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.wakeDrainWaiters();
    const lost = error ?? new InternalError('AGENT_DISCONNECTED', 'agent channel: the connection closed');
    for (const stream of [...this.streams.values()]) stream.onClose(lost);
    this.streams.clear();
    this.emit('close', error);
  }
}

/**
 * One logical stream: control messages both ways, and channels. Emits
 * `control` (ControlMessage) and `close` (an Error when the connection died
 * under it, nothing when the peer closed it).
 */
export class MuxStream extends EventEmitter {
  private readonly ins = new Map<number, InChannel>();
  private readonly outs = new Map<number, OutChannel>();
  private closed = false;
  private readonly link: ChannelLink;

  constructor(
    private readonly mux: Mux,
    readonly id: number,
  ) {
    super();
    const frame = (type: FrameType, channel: number, extra?: Buffer) => {
      const head = Buffer.of(channel);
      if (extra === undefined) return this.mux.write(type, id, head);
      return this.mux.write(type, id, Buffer.concat([head, extra]));
    };
    this.link = {
      sendData: (channel, bytes) => (this.closed ? true : this.mux.write(FrameType.Data, id, bytes, Buffer.of(channel))),
      sendWindow: (channel, increment) => {
        if (this.closed) return;
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32BE(increment, 0);
        frame(FrameType.Window, channel, b);
      },
      sendEof: (channel) => {
        if (!this.closed) frame(FrameType.Eof, channel);
      },
      drained: () => this.mux.drained(),
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The readable end of a channel the peer writes to. */
  input(channel: number): InChannel {
    let c = this.ins.get(channel);
    if (c === undefined) {
      c = new InChannel(this.link, channel, this.mux.window, (message) => this.mux.violation(protocolError(message)));
      this.ins.set(channel, c);
      if (this.closed) c.end();
    }
    return c;
  }

  /** The writable end of a channel the peer reads. */
  output(channel: number): OutChannel {
    let c = this.outs.get(channel);
    if (c === undefined) {
      c = new OutChannel(this.link, channel, this.mux.window);
      this.outs.set(channel, c);
      if (this.closed) c.abandon();
    }
    return c;
  }

  control(message: ControlMessage): void {
    if (!this.closed) this.mux.write(FrameType.Control, this.id, Buffer.from(JSON.stringify(message)));
  }

  /** Tells the peer this side is done with the stream and forgets it. */
  close(): void {
    if (this.closed) return;
    this.mux.write(FrameType.Close, this.id, Buffer.alloc(0));
    this.finish();
    this.emit('close');
  }

  /** @internal */
  onData(channel: number, bytes: Buffer): void {
    this.input(channel).receive(bytes);
  }

  /** @internal */
  onWindow(channel: number, increment: number): void {
    this.output(channel).addCredit(increment);
  }

  /** @internal */
  onEof(channel: number): void {
    this.input(channel).end();
  }

  /** @internal The peer closed the stream, or the connection died (error). */
  onClose(error?: Error): void {
    if (this.closed) return;
    this.finish();
    this.emit('close', error);
  }

  private finish(): void {
    this.closed = true;
    this.mux.forget(this.id);
    for (const c of this.ins.values()) c.end();
    for (const c of this.outs.values()) c.abandon();
  }
}
