import type { CliContext } from '../../context.js';
import { toJson } from '../../output/format.js';

/** `banger daemon start`: starts bangerd unless it already runs (then says so; exit 0 either way). */
export async function daemonStartCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { hello, started } = await ctx.daemon();
  const socket = ctx.paths().socketPath;
  if (options.json) ctx.out(toJson({ started, pid: hello.pid, version: hello.daemonVersion, socket }));
  else ctx.out(started ? `bangerd ${hello.daemonVersion} started (pid ${hello.pid}, socket ${socket})` : `bangerd is already running (pid ${hello.pid}, socket ${socket})`);
}
