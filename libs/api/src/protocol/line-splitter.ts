/** What a LineSplitter reports for each chunk it is fed. */
export type SplitItem = { kind: 'line'; line: string } | { kind: 'overflow'; head: string };

/**
 * Splits a byte stream into newline-terminated UTF-8 lines, refusing any line
 * longer than `maxBytes`. After an overflow the splitter is spent: the caller
 * replies with an error and closes the connection, because the rest of the
 * stream can no longer be framed reliably.
 */
export class LineSplitter {
  private chunks: Buffer[] = [];
  private pending = 0;
  private overflowed = false;

  constructor(private readonly maxBytes: number) {}

  /** Feeds bytes; returns the complete lines (and at most one overflow) they finish. */
  push(data: Buffer): SplitItem[] {
    if (this.overflowed) return [];
    const out: SplitItem[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl !== -1; nl = data.indexOf(0x0a, start)) {
      const piece = data.subarray(start, nl);
      if (this.pending + piece.length > this.maxBytes) return this.overflow(out, piece);
      const line = Buffer.concat([...this.chunks, piece]).toString('utf8');
      this.chunks = [];
      this.pending = 0;
      start = nl + 1;
      if (line.trim() !== '') out.push({ kind: 'line', line });
    }
    const rest = data.subarray(start);
    if (this.pending + rest.length > this.maxBytes) return this.overflow(out, rest);
    if (rest.length > 0) {
      this.chunks.push(Buffer.from(rest));
      this.pending += rest.length;
    }
    return out;
  }

  private overflow(out: SplitItem[], piece: Buffer): SplitItem[] {
    // Keep only a small head: enough to find the id, never the whole line.
    const head = Buffer.concat([...this.chunks, piece.subarray(0, 256)]).subarray(0, 256).toString('utf8');
    this.chunks = [];
    this.pending = 0;
    this.overflowed = true;
    out.push({ kind: 'overflow', head });
    return out;
  }
}

/**
 * Best-effort id of a line that could not be parsed as a whole (too long):
 * only a leading `{"id": "x"` or `{"id": 12` is trusted.
 */
export function sniffRequestId(head: string): string | number | null {
  const match = /^\s*\{\s*"id"\s*:\s*(?:"((?:[^"\\]|\\.){1,200})"|(-?\d{1,15})\s*[,}])/.exec(head);
  if (!match) return null;
  if (match[2] !== undefined) return Number(match[2]);
  try {
    return JSON.parse(`"${match[1]}"`) as string;
  } catch {
    return null;
  }
}
