import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/** Past this size the log is rotated once (to `<log>.1`) when the daemon starts. */
const ROTATE_BYTES = 20 * 1024 * 1024;

/**
 * The daemon's logger: pino JSON lines appended to `logFile`. Synchronous
 * writes, because pino transports (worker threads) do not survive bundling and
 * a daemon that dies must not lose its last lines. `banger daemon logs`
 * pretty-prints the file.
 */
export function createLogger(logFile: string, level = process.env['BANGER_LOG_LEVEL'] ?? 'info'): Logger {
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  try {
    if (statSync(logFile).size > ROTATE_BYTES) renameSync(logFile, `${logFile}.1`);
  } catch {
    // no log yet
  }
  const destination = pino.destination({ dest: logFile, sync: true, mkdir: true, append: true });
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
