import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { listSegments, outputExtent } from './segments.js';

const BLOCK = 64 * 1024;

/** The offset where the last `lines` lines of the kept output start (a final newline ends the last line, it does not start one). */
export async function tailOffset(dir: string, lines: number, end = outputExtent(dir).end): Promise<number> {
  const { start } = outputExtent(dir);
  if (lines <= 0) return end;
  let found = 0;
  for (const segment of listSegments(dir).reverse()) {
    let handle;
    try {
      handle = await open(segment.path, 'r');
    } catch {
      continue;
    }
    try {
      let to = Math.min(segment.size, end - segment.offset);
      while (to > 0) {
        const from = Math.max(0, to - BLOCK);
        const buf = Buffer.alloc(to - from);
        await handle.read(buf, 0, buf.length, from);
        for (let i = buf.length - 1; i >= 0; i--) {
          const at = segment.offset + from + i;
          if (buf[i] === 0x0a && at !== end - 1 && ++found === lines) return at + 1;
        }
        to = from;
      }
    } finally {
      await handle.close();
    }
  }
  return start;
}

/**
 * Writes the output from `pos` to what is written now into `out`, waiting for
 * its drain (so a slow host slows the reading, not memory). Returns the new
 * position (at most `limit`). A position older than the oldest kept byte skips ahead to it.
 */
export async function copyOutput(dir: string, pos: number, out: Writable, stopped: () => boolean, limit = Infinity): Promise<number> {
  for (const segment of listSegments(dir)) {
    const segEnd = Math.min(segment.offset + segment.size, limit);
    if (segEnd <= pos) continue;
    if (pos < segment.offset) pos = segment.offset;
    let handle;
    try {
      handle = await open(segment.path, 'r');
    } catch {
      continue; // rotated away: the next segment follows
    }
    try {
      while (pos < segEnd && !stopped()) {
        const buf = Buffer.alloc(Math.min(BLOCK, segEnd - pos));
        const { bytesRead } = await handle.read(buf, 0, buf.length, pos - segment.offset);
        if (bytesRead === 0) break;
        pos += bytesRead;
        if (!out.write(buf.subarray(0, bytesRead))) await new Promise<void>((r) => out.once('drain', r).once('close', r));
      }
    } finally {
      await handle.close();
    }
  }
  return pos;
}
