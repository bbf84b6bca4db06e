import type { CliContext } from '../../context.js';
import { probeDaemon, stopDaemon } from '../../daemon-client/connect-daemon.js';
import { toJson } from '../../output/format.js';

/**
 * `banger daemon stop`: asks bangerd to shut down and waits until it is gone.
 * Not running is not an error. VMs keep running.
 */
export async function daemonStopCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const pid = await stopIfRunning(ctx);
  if (options.json) ctx.out(toJson({ stopped: pid !== undefined, pid: pid ?? null }));
  else ctx.out(pid === undefined ? 'bangerd is not running' : `bangerd stopped (pid ${pid})`);
}

/** Stops the daemon when one runs (whatever its version); returns its pid. */
export async function stopIfRunning(ctx: CliContext): Promise<number | undefined> {
  const paths = ctx.paths();
  const running = await probeDaemon(paths, ctx.version, 5_000);
  if (!running) return undefined;
  await stopDaemon(running.client, running.hello.pid, paths);
  return running.hello.pid;
}
