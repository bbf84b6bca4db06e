import { describe, expect, it } from 'vitest';
import { encodeHeader, FrameDecoder } from './frames.js';
import { FrameType, MAX_FRAME_PAYLOAD } from './protocol.js';

const frame = (type: FrameType, stream: number, payload: Buffer) => Buffer.concat([encodeHeader(type, stream, payload.length), payload]);

describe('the frame decoder', () => {
  it('reassembles frames split at every byte boundary', () => {
    const bytes = Buffer.concat([frame(FrameType.Data, 3, Buffer.from('\x01hello')), frame(FrameType.Close, 3, Buffer.alloc(0)), frame(FrameType.Eof, 5, Buffer.of(2))]);
    const decoder = new FrameDecoder();
    const frames = [...bytes].flatMap((b) => decoder.push(Buffer.of(b)));
    expect(frames.map((f) => [f.type, f.stream, f.payload.toString('hex')])).toEqual([
      [FrameType.Data, 3, Buffer.from('\x01hello').toString('hex')],
      [FrameType.Close, 3, ''],
      [FrameType.Eof, 5, '02'],
    ]);
  });

  it('rejects a frame that announces more than the payload limit before buffering it', () => {
    const header = Buffer.alloc(9);
    header.writeUInt8(FrameType.Data, 0);
    header.writeUInt32BE(1, 1);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD + 1, 5);
    expect(() => new FrameDecoder().push(header)).toThrow(expect.objectContaining({ code: 'AGENT_PROTOCOL_ERROR' }));
    expect(() => encodeHeader(FrameType.Data, 1, MAX_FRAME_PAYLOAD + 1)).toThrow(/exceeds/);
  });

  it('rejects an unknown frame type', () => {
    expect(() => new FrameDecoder().push(Buffer.from('630000000100000000', 'hex'))).toThrow(/unknown frame type 99/);
  });
});
