import { CancelledError } from '@banger/errors';
import type { CliContext } from '../../context.js';
import { prettyLogLine } from '../daemon/pretty-log-line.js';

/**
 * `banger vm logs NAME [-f] [-n N] [--daemon]`: the guest console as the
 * daemon streams it (the CLI never reads VM files), or with `--daemon` the
 * daemon's own log lines about this VM, pretty-printed. `-f` follows until
 * Ctrl-C, which ends the command normally.
 */
export async function logsCommand(ctx: CliContext, name: string, options: { follow?: boolean; lines?: number; daemon?: boolean; raw?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const print = (line: string): void => ctx.out(options.daemon && !options.raw ? prettyLogLine(line, { color: ctx.color }) : line);
  try {
    await client.call(
      'vm.logs',
      { name, ...(options.follow ? { follow: true } : {}), ...(options.lines !== undefined ? { lines: options.lines } : {}), ...(options.daemon ? { daemon: true } : {}) },
      { signal: ctx.signal, onEvent: (event) => print(event.line) },
    );
  } catch (error) {
    if (options.follow && error instanceof CancelledError && ctx.signal.aborted) return;
    throw error;
  }
}
