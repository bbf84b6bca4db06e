import { InternalError } from '@banger/errors';
import { FRAME_HEADER, FrameType, MAX_FRAME_PAYLOAD } from './protocol.js';

export interface Frame {
  type: FrameType;
  stream: number;
  payload: Buffer;
}

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

export function protocolError(message: string): InternalError {
  return new InternalError('AGENT_PROTOCOL_ERROR', `agent channel: ${message}`);
}

/** The header of a frame; the payload is written after it as is (no copy). */
export function encodeHeader(type: FrameType, stream: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw protocolError(`frame of ${length} bytes exceeds the ${MAX_FRAME_PAYLOAD}-byte limit`);
  const header = Buffer.allocUnsafe(FRAME_HEADER);
  header.writeUInt8(type, 0);
  header.writeUInt32BE(stream, 1);
  header.writeUInt32BE(length, 5);
  return header;
}

/**
 * Splits a byte stream into frames. Holds at most one frame's worth of
 * bytes (header + MAX_FRAME_PAYLOAD) beyond what it has handed out; a frame
 * announcing a bigger payload or an unknown type is a protocol error.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Feeds bytes; returns the complete frames they finish. Throws on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER) break;
      const header = this.peek(FRAME_HEADER);
      const type = header.readUInt8(0);
      const stream = header.readUInt32BE(1);
      const length = header.readUInt32BE(5);
      if (!KNOWN_TYPES.has(type)) throw protocolError(`unknown frame type ${type}`);
      if (length > MAX_FRAME_PAYLOAD) throw protocolError(`frame of ${length} bytes exceeds the ${MAX_FRAME_PAYLOAD}-byte limit`);
      if (this.buffered < FRAME_HEADER + length) break;
      this.take(FRAME_HEADER);
      frames.push({ type: type as FrameType, stream, payload: this.take(length) });
    }
    return frames;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const head = this.chunks[0]!;
        if (head.length <= need) {
          parts.push(head);
          this.chunks.shift();
          need -= head.length;
        } else {
          parts.push(head.subarray(0, need));
          this.chunks[0] = head.subarray(need);
          need = 0;
        }
      }
      out = Buffer.concat(parts, n);
    }
    this.buffered -= n;
    return out;
  }
}
