const LEVELS: Record<string, string> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };
const NUMERIC: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const COLORS: Record<string, string> = { TRACE: '90', DEBUG: '90', INFO: '32', WARN: '33', ERROR: '31', FATAL: '35' };
const HIDDEN = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'v']);

/**
 * Turns one pino JSON line into `2026-11-30 01:42:33.123 INFO  bangerd started version=0.1.0`.
 * Lines that are not JSON (a crash trace on stderr) pass through unchanged.
 */
export function prettyLogLine(line: string, options: { color: boolean }): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return line;
    record = parsed as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof record['time'] === 'string' ? record['time'].replace('T', ' ').replace(/Z$/, '') : typeof record['time'] === 'number' ? new Date(record['time']).toISOString().replace('T', ' ').replace(/Z$/, '') : '';
  const rawLevel = typeof record['level'] === 'number' ? NUMERIC[record['level']] : String(record['level'] ?? 'info');
  const level = (LEVELS[rawLevel ?? 'info'] ?? String(rawLevel).toUpperCase()).padEnd(5);
  const shownLevel = options.color ? `\x1b[${COLORS[level.trim()] ?? '0'}m${level}\x1b[0m` : level;
  const fields = Object.entries(record)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => `${key}=${formatValue(key, value)}`);
  return [time, shownLevel, String(record['msg'] ?? ''), ...fields].filter((p) => p !== '').join(' ');
}

function formatValue(key: string, value: unknown): string {
  if (key === 'err' && value && typeof value === 'object' && 'message' in value) return JSON.stringify((value as { message: unknown }).message);
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}
