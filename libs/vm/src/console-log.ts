import { createReadStream, existsSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of `streamLogLines`. */
export interface StreamLogOptions {
  /** Only the last N lines of what exists now (default: all). */
  lines?: number;
  /** Keep sending new lines until `signal` aborts. */
  follow?: boolean;
  signal: AbortSignal;
  /** Keep only the lines this accepts (e.g. the daemon log's lines about one VM). */
  filter?: (line: string) => boolean;
  onLine: (line: string) => void;
}

/**
 * Sends a log file's lines (the guest console, the daemon log) to `onLine`:
 * the tail that exists, then, with `follow`, new lines as they are appended,
 * starting over when the file is truncated or replaced (the console log is
 * kept across boots, the daemon log rotates). A missing file is simply empty.
 * The console of a guest contains `\r` and escape codes; they are kept, the
 * terminal renders them.
 */
export async function streamLogLines(file: string, options: StreamLogOptions): Promise<void> {
  const accept = options.filter ?? (() => true);
  const { lines, end } = await readLines(file, 0);
  const kept = lines.filter(accept);
  for (const line of options.lines !== undefined ? kept.slice(Math.max(0, kept.length - options.lines)) : kept) options.onLine(line);
  if (!options.follow) return;
  let offset = end;
  let inode = existsSync(file) ? statSync(file).ino : undefined;
  while (!options.signal.aborted) {
    await sleep(300, undefined, { signal: options.signal }).catch(() => undefined);
    if (options.signal.aborted || !existsSync(file)) continue;
    const stat = statSync(file);
    if (stat.ino !== inode || stat.size < offset) offset = 0;
    inode = stat.ino;
    if (stat.size === offset) continue;
    const next = await readLines(file, offset);
    next.lines.filter(accept).forEach(options.onLine);
    offset = next.end;
  }
}

/** Whole lines from `offset`; a trailing partial line waits for its newline. */
async function readLines(file: string, offset: number): Promise<{ lines: string[]; end: number }> {
  if (!existsSync(file)) return { lines: [], end: 0 };
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start: offset })) chunks.push(chunk as Buffer);
  const data = Buffer.concat(chunks);
  const last = data.lastIndexOf(0x0a);
  if (last === -1) return { lines: [], end: offset };
  return { lines: data.subarray(0, last).toString('utf8').split('\n').map((l) => l.replace(/\r$/, '')), end: offset + last + 1 };
}
