import { InternalError } from '@banger/errors';

/** An LZ4 legacy stream is corrupt or truncated; the message says where, the caller names the file. */
export class Lz4CorruptError extends InternalError {
  constructor(why: string) {
    super('LZ4_CORRUPT', why);
  }
}

/** Magic number of the LZ4 "legacy" frame format the kernel build uses (`lz4 -l`). */
export const LZ4_LEGACY_MAGIC = 0x184c2102;

/**
 * Decodes an LZ4 legacy-format stream: the magic, then blocks of
 * `u32 LE compressed length` + an LZ4 block (each up to 8 MiB decompressed).
 * A repeated magic starts a new concatenated frame. `expectedSize` bounds the
 * output, so a corrupt stream cannot make us allocate without limit.
 * Throws Lz4CorruptError describing the corruption; callers add the file name.
 * The legacy format has no checksum: corruption that keeps the sequence
 * structure valid goes unnoticed here, which is why the .deb's sha256 (apt)
 * and the bundle's sha256 are the integrity guarantees.
 */
export function decodeLz4Legacy(input: Buffer, expectedSize: number): Buffer {
  if (input.length < 4 || input.readUInt32LE(0) !== LZ4_LEGACY_MAGIC) throw new Lz4CorruptError('missing LZ4 legacy magic');
  const out = Buffer.allocUnsafe(expectedSize);
  let outPos = 0;
  let pos = 4;
  while (pos + 4 <= input.length) {
    const blockLength = input.readUInt32LE(pos);
    pos += 4;
    if (blockLength === LZ4_LEGACY_MAGIC) continue;
    if (blockLength === 0) break;
    const blockEnd = pos + blockLength;
    if (blockEnd > input.length) {
      throw new Lz4CorruptError(`LZ4 block of ${blockLength} bytes at offset ${pos - 4} runs past the end of the data (truncated)`);
    }
    outPos = decodeBlock(input, pos, blockEnd, out, outPos);
    pos = blockEnd;
  }
  return out.subarray(0, outPos);
}

/** One raw LZ4 block (sequence format): token, literals, offset, match. Returns the new output position. */
function decodeBlock(src: Buffer, start: number, end: number, out: Buffer, outStart: number): number {
  let s = start;
  let o = outStart;
  const outLimit = out.length;
  while (s < end) {
    const token = src[s++]!;
    let literalLength = token >>> 4;
    if (literalLength === 15) {
      let byte: number;
      do {
        if (s >= end) throw new Lz4CorruptError('LZ4 literal length runs past the end of a block');
        byte = src[s++]!;
        literalLength += byte;
      } while (byte === 255);
    }
    if (s + literalLength > end) throw new Lz4CorruptError('LZ4 literals run past the end of a block');
    if (o + literalLength > outLimit) throw new Lz4CorruptError('LZ4 output is larger than the announced size');
    src.copy(out, o, s, s + literalLength);
    s += literalLength;
    o += literalLength;
    if (s >= end) break; // the last sequence has literals only
    if (s + 2 > end) throw new Lz4CorruptError('LZ4 match offset runs past the end of a block');
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    if (offset === 0 || offset > o) throw new Lz4CorruptError(`LZ4 match offset ${offset} points before the start of the output`);
    let matchLength = (token & 15) + 4;
    if ((token & 15) === 15) {
      let byte: number;
      do {
        if (s >= end) throw new Lz4CorruptError('LZ4 match length runs past the end of a block');
        byte = src[s++]!;
        matchLength += byte;
      } while (byte === 255);
    }
    if (o + matchLength > outLimit) throw new Lz4CorruptError('LZ4 output is larger than the announced size');
    let from = o - offset;
    if (offset >= matchLength) {
      out.copy(out, o, from, from + matchLength);
      o += matchLength;
    } else {
      // Overlapping copy: the match repeats bytes it is itself producing.
      for (let i = 0; i < matchLength; i++) out[o++] = out[from++]!;
    }
  }
  return o;
}
