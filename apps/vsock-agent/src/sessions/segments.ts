import { closeSync, openSync, readdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A session's output as numbered segments: `out.<offset>` holds the bytes
 * from that offset (of everything the session ever wrote) on. The writer
 * starts a new segment when the current one reaches its cap and deletes the
 * oldest beyond `keep`, so at most keep × cap bytes stay in the guest. A
 * reader addresses output by offset, so it can follow across rotations
 * without a gap or a repeated byte (unless it falls behind by more than what
 * is kept: then it skips to the oldest kept byte).
 */
export interface Segment {
  offset: number;
  size: number;
  path: string;
}

const PREFIX = 'out.';
const segmentName = (offset: number): string => `${PREFIX}${String(offset).padStart(16, '0')}`;

/** The kept segments of a session directory, oldest first. */
export function listSegments(dir: string): Segment[] {
  const out: Segment[] = [];
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith(PREFIX)) continue;
    const offset = Number(entry.slice(PREFIX.length));
    if (!Number.isSafeInteger(offset)) continue;
    const path = join(dir, entry);
    try {
      out.push({ offset, size: statSync(path).size, path });
    } catch {
      // Rotated away between readdir and stat.
    }
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** The offset after the last byte written, and how many bytes are kept. */
export function outputExtent(dir: string): { end: number; kept: number; start: number } {
  const segments = listSegments(dir);
  const last = segments.at(-1);
  if (!last) return { start: 0, end: 0, kept: 0 };
  return { start: segments[0]!.offset, end: last.offset + last.size, kept: segments.reduce((n, s) => n + s.size, 0) };
}

export class SegmentWriter {
  private fd: number;
  private size = 0;
  private offset = 0;

  constructor(
    private readonly dir: string,
    private readonly capBytes: number,
    private readonly keep = 2,
  ) {
    this.fd = openSync(join(dir, segmentName(0)), 'a');
  }

  /** Appends synchronously (the keeper has nothing else to do; the order of stdout and stderr chunks is kept). */
  write(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.size >= this.capBytes) this.rotate();
      const room = this.capBytes - this.size;
      const part = rest.subarray(0, room);
      let done = 0;
      while (done < part.length) done += writeSync(this.fd, part, done);
      this.size += part.length;
      rest = rest.subarray(part.length);
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    this.offset += this.size;
    this.size = 0;
    this.fd = openSync(join(this.dir, segmentName(this.offset)), 'a');
    const segments = listSegments(this.dir);
    for (const old of segments.slice(0, Math.max(0, segments.length - this.keep))) {
      try {
        unlinkSync(old.path);
      } catch {
        // A reader does not hold it open on Linux semantics that matter here.
      }
    }
  }
}
