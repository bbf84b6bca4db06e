import type { CliContext } from '../../context.js';
import { toJson } from '../../output/format.js';
import { stopIfRunning } from './stop.js';

/** `banger daemon restart`: stop (if running), then start. */
export async function daemonRestartCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const oldPid = await stopIfRunning(ctx);
  const { hello } = await ctx.daemon();
  const socket = ctx.paths().socketPath;
  if (options.json) ctx.out(toJson({ previousPid: oldPid ?? null, pid: hello.pid, version: hello.daemonVersion, socket }));
  else ctx.out(`bangerd ${hello.daemonVersion} restarted (pid ${oldPid ?? 'none'} → ${hello.pid}, socket ${socket})`);
}
