import type { DaemonStatus } from '@banger/api';
import type { CliContext } from '../../context.js';
import { formatUptime } from '@banger/host';
import { keyValues, toJson } from '../../output/format.js';

/** `banger daemon status [--json]`: starts the daemon if needed, then reports it. */
export async function daemonStatusCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const status = await client.call('daemon.status', {}, { signal: ctx.signal, timeoutMs: 10_000 });
  ctx.out(options.json ? toJson(status) : formatStatus(status));
}

export function formatStatus(status: DaemonStatus): string {
  const { vms } = status;
  return [
    `bangerd ${status.version} is running`,
    keyValues([
      ['pid', String(status.pid)],
      ['socket', status.socket],
      ['uptime', `${formatUptime(status.uptimeMs)} (since ${status.startedAt})`],
      ['state dir', status.stateDir],
      ['log', status.logFile],
      ['vms', `${vms.total} total, ${vms.running} running, ${vms.stopped} stopped`],
      ['dns', status.dns ? status.dns.address : 'not running'],
    ]),
  ].join('\n');
}
