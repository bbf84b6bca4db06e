import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { NotFoundError } from '@banger/errors';
import type { CliContext } from '../../context.js';
import { prettyLogLine } from './pretty-log-line.js';

export interface LogsOptions {
  follow?: boolean;
  /** Show only the last N lines (before following). */
  lines?: number;
  /** Print the JSON lines as stored. */
  raw?: boolean;
}

/**
 * `banger daemon logs [-f] [-n N] [--raw]`: reads the daemon's JSON-lines log
 * directly (it works with the daemon down, which is when you need it most) and
 * pretty-prints it. `-f` keeps printing new lines until Ctrl-C, surviving
 * the rotation the daemon does at start.
 */
export async function daemonLogsCommand(ctx: CliContext, options: LogsOptions): Promise<void> {
  const file = ctx.paths().logFile;
  if (!existsSync(file) && !options.follow) {
    throw new NotFoundError('DAEMON_LOG_MISSING', `no daemon log at ${file}`, { hint: 'the daemon has not run yet; start it with: banger daemon start' });
  }
  const print = (line: string): void => {
    if (line.trim() !== '') ctx.out(options.raw ? line : prettyLogLine(line, { color: ctx.color }));
  };
  let offset = 0;
  if (existsSync(file)) {
    const { lines, end } = await readFrom(file, 0);
    const shown = options.lines !== undefined ? lines.slice(Math.max(0, lines.length - options.lines)) : lines;
    shown.forEach(print);
    offset = end;
  }
  if (!options.follow) return;
  await follow(file, offset, print, ctx.signal);
}

async function follow(file: string, start: number, print: (line: string) => void, signal: AbortSignal): Promise<void> {
  let offset = start;
  let inode = existsSync(file) ? statSync(file).ino : undefined;
  let busy = false;
  const poll = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      if (!existsSync(file)) return;
      // Another file (rotated) or a shorter one (truncated): start over.
      const stat = statSync(file);
      if (stat.ino !== inode || stat.size < offset) offset = 0;
      inode = stat.ino;
      const { lines, end } = await readFrom(file, offset);
      lines.forEach(print);
      offset = end;
    } finally {
      busy = false;
    }
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => void poll(), 500);
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(file, () => void poll());
      watcher.on('error', () => {});
    } catch {
      // not there yet: the interval covers it
    }
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(timer);
        watcher?.close();
        resolve();
      },
      { once: true },
    );
  });
}

/** Reads whole lines from `offset`; a trailing partial line is left for later. */
async function readFrom(file: string, offset: number): Promise<{ lines: string[]; end: number }> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start: offset })) chunks.push(chunk as Buffer);
  const data = Buffer.concat(chunks);
  const last = data.lastIndexOf(0x0a);
  if (last === -1) return { lines: [], end: offset };
  return { lines: data.subarray(0, last).toString('utf8').split('\n'), end: offset + last + 1 };
}
