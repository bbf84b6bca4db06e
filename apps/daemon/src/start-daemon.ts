import { chmodSync } from 'node:fs';
import { ApiServer, effectiveVersion } from '@banger/api';
import { loadConfig, resolvePaths } from '@banger/config';
import { UserError } from '@banger/errors';
import { openDatabase, type Database } from '@banger/store';
import type { DaemonContext } from './context.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { createLogger } from './logger.js';
import { services as defaultServices } from './services/index.js';
import type { Service } from './service.js';
import { prepareSocketPath, removeSocketFile } from './socket-file.js';

/** A started daemon. */
export interface RunningDaemon {
  readonly ctx: DaemonContext;
  /** Stops gracefully (idempotent): no new connections, in-flight calls finish or are aborted, db closed, socket removed. */
  stop(reason: string): Promise<void>;
  /** Settles once the daemon has stopped, whoever asked. */
  readonly stopped: Promise<void>;
}

export interface StartDaemonOptions {
  /** Environment to resolve paths, config and version from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Services to run (default: all of services/index.ts). */
  services?: readonly Service[];
  /** How long in-flight calls may run on after a stop request before being aborted. */
  graceMs?: number;
}

/**
 * Starts bangerd in this process: config (refuses a bad one), the instance
 * lock (refuses a second daemon), logger, database, services, then the socket.
 * On any failure everything acquired so far is released before it throws.
 * Stopping never touches VMs: they outlive the daemon.
 */
export async function startDaemon(options: StartDaemonOptions = {}): Promise<RunningDaemon> {
  const env = options.env ?? process.env;
  const paths = resolvePaths(env);
  const log = createLogger(paths.logFile);
  const version = effectiveVersion(env);
  let lock: InstanceLock | undefined;
  let db: Database | undefined;
  try {
    const config = loadConfig(paths);
    lock = await acquireInstanceLock(paths.stateDir, { pid: process.pid, socket: paths.socketPath });
    db = openDatabase(paths.dbFile);
    const server = new ApiServer({ log: log.child({ component: 'api' }) });
    let stop: (reason: string) => Promise<void> = async () => {};
    const ctx: DaemonContext = {
      paths,
      config,
      db,
      log,
      version,
      startedAt: Date.now(),
      // setImmediate: let the handler's reply go out before the server starts closing.
      requestShutdown: (reason) => void setImmediate(() => void stop(reason)),
    };
    const hooks = (options.services ?? defaultServices).map((service) => service(ctx, server)).filter((h) => typeof h === 'function');
    // Calls to these get an API_NO_HANDLER error; the rest of the daemon works.
    const missing = server.unhandledMethods();
    if (options.services === undefined && missing.length > 0) log.warn({ methods: missing }, 'methods without a handler');
    prepareSocketPath(paths.socketPath);
    const umask = process.umask(0o077);
    try {
      await server.listen(paths.socketPath);
    } finally {
      process.umask(umask);
    }
    chmodSync(paths.socketPath, 0o600);
    log.info({ version, socket: paths.socketPath, stateDir: paths.stateDir, node: process.version }, 'bangerd started');

    const heldLock = lock;
    const heldDb = db;
    let resolveStopped!: () => void;
    const stopped = new Promise<void>((r) => (resolveStopped = r));
    let stopping: Promise<void> | undefined;
    stop = (reason) =>
      (stopping ??= (async () => {
        log.info({ reason, inFlight: server.inFlightCount }, 'bangerd stopping');
        try {
          await server.close({ graceMs: options.graceMs ?? 10_000, reason: `bangerd is stopping (${reason})` });
          for (const hook of hooks) {
            try {
              await hook();
            } catch (error) {
              log.error({ err: error }, 'service shutdown hook failed');
            }
          }
        } finally {
          heldDb.close();
          removeSocketFile(paths.socketPath);
          await heldLock.release();
          log.info('bangerd stopped');
          resolveStopped();
        }
      })());
    return { ctx, stop: (reason) => stop(reason), stopped };
  } catch (error) {
    // A refused second daemon or a bad config is the user's to fix, not a daemon fault.
    log[error instanceof UserError ? 'warn' : 'error']({ err: error }, 'bangerd failed to start');
    db?.close();
    await lock?.release();
    throw error;
  }
}
