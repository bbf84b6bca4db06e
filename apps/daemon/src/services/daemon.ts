import { PROTOCOL_VERSION, type DaemonStatus } from '@banger/api';
import { VmsTable } from '@banger/store';
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
  const counts = new VmsTable(ctx.db).counts();
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
