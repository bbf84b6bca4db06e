import { Readable, Writable } from 'node:stream';
import { MAX_DATA_CHUNK } from './protocol.js';

/** What a channel needs from its stream: sending frames and waiting for the byte stream to drain. */
export interface ChannelLink {
  sendData(channel: number, bytes: Buffer): boolean;
  sendWindow(channel: number, increment: number): void;
  sendEof(channel: number): void;
  /** Resolves when the underlying byte stream accepts writes again. */
  drained(): Promise<void>;
}

/**
 * The receiving end of one channel. Bytes that arrive wait in a queue that
 * the sender's credit bounds (at most `window` bytes); credit goes back to
 * the sender only as the consumer reads, so an unread channel stops its
 * sender without stopping anyone else.
 */
export class InChannel extends Readable {
  private queue: Buffer[] = [];
  private queued = 0;
  private wanted = false;
  private ungranted = 0;
  private outstanding: number;
  private eof = false;

  constructor(
    private readonly link: ChannelLink,
    readonly channel: number,
    private readonly window: number,
    private readonly violation: (message: string) => void,
  ) {
    super({ highWaterMark: MAX_DATA_CHUNK });
    this.outstanding = window;
  }

  /** Bytes from a Data frame. */
  receive(bytes: Buffer): void {
    if (this.eof) return this.violation(`data after end of channel ${this.channel}`);
    if (bytes.length > this.outstanding) return this.violation(`${bytes.length} bytes on channel ${this.channel} with ${this.outstanding} bytes of credit`);
    this.outstanding -= bytes.length;
    if (this.destroyed) return this.grant(bytes.length);
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.pump();
  }

  /** An Eof frame. */
  end(): void {
    this.eof = true;
    this.pump();
  }

  /** Bytes waiting for the consumer (bounded by the window). */
  get pending(): number {
    return this.queued;
  }

  override _read(): void {
    this.wanted = true;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A consumer that gives up frees the sender: what was queued is dropped and granted back.
    const dropped = this.queued;
    this.queue = [];
    this.queued = 0;
    if (dropped > 0 && !this.eof) this.grant(dropped);
    callback(error);
  }

  private pump(): void {
    while (this.wanted && this.queue.length > 0) {
      const bytes = this.queue.shift()!;
      this.queued -= bytes.length;
      this.ungranted += bytes.length;
      this.wanted = this.push(bytes);
    }
    if (this.ungranted > 0 && !this.eof && (this.ungranted >= this.window / 4 || this.queue.length === 0)) {
      this.grant(this.ungranted);
      this.ungranted = 0;
    }
    if (this.eof && this.queue.length === 0 && !this.readableEnded && this.wanted) {
      this.wanted = false;
      this.push(null);
    }
  }

  private grant(n: number): void {
    this.outstanding += n;
    this.link.sendWindow(this.channel, n);
  }
}

/**
 * The sending end of one channel: writes wait for credit from the receiver
 * (Window frames) and for the byte stream to drain, so a producer that
 * outruns its consumer is paused rather than buffered.
 */
export class OutChannel extends Writable {
  private credit: number;
  private waiting: (() => void) | undefined;
  private closedRemotely = false;

  constructor(
    private readonly link: ChannelLink,
    readonly channel: number,
    window: number,
  ) {
    super({ highWaterMark: MAX_DATA_CHUNK });
    this.credit = window;
  }

  /** A Window frame. */
  addCredit(increment: number): void {
    this.credit += increment;
    const wake = this.waiting;
    this.waiting = undefined;
    wake?.();
  }

  /** The stream is gone: writes from now on are dropped, pending ones fail. */
  abandon(): void {
    this.closedRemotely = true;
    const wake = this.waiting;
    this.waiting = undefined;
    wake?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.closedRemotely) this.link.sendEof(this.channel);
    callback();
  }

  private async send(chunk: Buffer): Promise<void> {
    let rest = chunk;
    let congested = false;
    while (rest.length > 0) {
      if (this.closedRemotely) return;
      if (this.credit === 0) {
        await new Promise<void>((resolve) => (this.waiting = resolve));
        continue;
      }
      const n = Math.min(this.credit, rest.length, MAX_DATA_CHUNK);
      this.credit -= n;
      congested = !this.link.sendData(this.channel, rest.subarray(0, n)) || congested;
      rest = rest.subarray(n);
      if (congested) {
        await this.link.drained();
        congested = false;
      }
    }
  }
}
