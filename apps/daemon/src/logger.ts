import { mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/** Past this size the log is rotated (to `<log>.1`, replacing the previous one): at start and while running. */
export const ROTATE_BYTES = 20 * 1024 * 1024;
/** How often a running daemon looks at its log's size. */
const ROTATE_CHECK_MS = 10_000;

/**
 * The daemon's logger: pino JSON lines appended to `logFile`. Synchronous
 * writes, because pino transports (worker threads) do not survive bundling and
 * a daemon that dies must not lose its last lines. `banger daemon logs`
 * pretty-prints the file.
 */
export function createLogger(logFile: string, level = process.env['BANGER_LOG_LEVEL'] ?? 'info'): Logger {
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  rotateIfLarge(logFile);
  const destination = pino.destination({ dest: logFile, sync: true, mkdir: true, append: true });
  // A daemon that runs for weeks (or is flooded with bad requests) must not grow its log without bound.
  setInterval(() => {
    if (rotateIfLarge(logFile)) destination.reopen();
  }, ROTATE_CHECK_MS).unref();
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

/** Renames `logFile` to `<logFile>.1` when it is larger than `limit`; true when it did (the writer must reopen). */
export function rotateIfLarge(logFile: string, limit = ROTATE_BYTES): boolean {
  try {
    if (statSync(logFile).size <= limit) return false;
    renameSync(logFile, `${logFile}.1`);
    return true;
  } catch {
    return false; // no log yet
  }
}
