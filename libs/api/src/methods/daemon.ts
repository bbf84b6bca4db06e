import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';

/** What `banger daemon status` shows. */
export const daemonStatusSchema = lazySchema(() => z.object({
  pid: z.number().int(),
  version: z.string(),
  protocolVersion: z.number().int(),
  socket: z.string(),
  /** ISO 8601 time the daemon started. */
  startedAt: z.string(),
  uptimeMs: z.number().int().nonnegative(),
  stateDir: z.string(),
  logFile: z.string(),
  vms: z.object({
    total: z.number().int().nonnegative(),
    running: z.number().int().nonnegative(),
    stopped: z.number().int().nonnegative(),
  }),
  /** The `.vm` DNS server's address once it runs; null until then. */
  dns: z.object({ address: z.string() }).nullable(),
}));
export type DaemonStatus = z.infer<typeof daemonStatusSchema>;

/** The daemon's own lifecycle. */
export const daemonMethods = {
  'daemon.status': defineMethod(() => ({
    description: 'Reports pid, version, socket, uptime, state dir and VM counts.',
    params: z.object({}).optional(),
    result: daemonStatusSchema,
  })),
  'daemon.shutdown': defineMethod(() => ({
    description: 'Stops the daemon gracefully after replying; running VMs keep running.',
    params: z.object({}).optional(),
    result: z.object({ pid: z.number().int() }),
  })),
};
