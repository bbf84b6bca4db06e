import { PROTOCOL_VERSION, type DaemonStatus } from '@banger/api';
import type { DaemonContext } from '../context.js';
import type { Service } from '../service.js';
import { dnsStatusField } from './dns.js';

/** `daemon.status` and `daemon.shutdown`. */
export const daemonService: Service = (ctx, server) => {
  server.handle('daemon.status', () => daemonStatus(ctx));
  server.handle('daemon.shutdown', () => {
    ctx.log.info('shutdown requested by a client');
    ctx.requestShutdown('shutdown requested by a client');
    return { pid: process.pid };
  });
};

function daemonStatus(ctx: DaemonContext): DaemonStatus {
  const counts = ctx.db
    .prepare(
      `SELECT COUNT(*) AS total,
              COALESCE(SUM(state = 'running'), 0) AS running,
              COALESCE(SUM(state = 'stopped'), 0) AS stopped
         FROM vms`,
    )
    .get() as { total: number; running: number; stopped: number };
  return {
    pid: process.pid,
    version: ctx.version,
    protocolVersion: PROTOCOL_VERSION,
    socket: ctx.paths.socketPath,
    startedAt: new Date(ctx.startedAt).toISOString(),
    uptimeMs: Math.max(0, Date.now() - ctx.startedAt),
    stateDir: ctx.paths.stateDir,
    logFile: ctx.paths.logFile,
    vms: counts,
    dns: dnsStatusField(ctx),
  };
}
