import type { Logger } from 'pino';
import type { BangerConfig, BangerPaths } from '@banger/config';
import type { Database } from '@banger/store';

/**
 * Everything a service needs, built once at daemon start and passed to each
 * service's register function. Services never open their own database or
 * logger: they use these.
 */
export interface DaemonContext {
  paths: BangerPaths;
  config: BangerConfig;
  db: Database;
  /** JSON lines to `paths.logFile`; use `log.child({ service: 'vm' })`. */
  log: Logger;
  /** The version this daemon reports (BANGER_VERSION or the test-only override). */
  version: string;
  /** When the daemon started (ms since epoch). */
  startedAt: number;
  /**
   * Asks the daemon to stop gracefully (the same as SIGTERM). Returns at once;
   * the caller's reply is still written before connections close.
   */
  requestShutdown(reason: string): void;
}
