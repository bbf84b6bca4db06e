import { constants } from 'node:os';
import { InvalidArgumentError } from 'commander';
import type { SessionInfoWire } from '@banger/api';
import { formatBytes } from '../../progress/index.js';
import { formatTable } from '../kernel/format-table.js';

/** `running`, `exited 3`, `killed by SIGTERM`, `lost`. */
export function sessionState(s: Pick<SessionInfoWire, 'state' | 'code' | 'signal'>): string {
  if (s.state === 'running') return 'running';
  if (s.state === 'lost') return 'lost (its keeper died)';
  return s.signal ? `killed by ${s.signal}` : `exited ${s.code}`;
}

/** The shell status of an ended session: its code, or 128 + n for signal n. */
export function sessionExitStatus(s: Pick<SessionInfoWire, 'code' | 'signal'>): number {
  if (s.code !== null) return s.code;
  const n = s.signal ? (constants.signals as Record<string, number>)[s.signal] : undefined;
  return n === undefined ? 255 : 128 + n;
}

/** The `session list` table. */
export function formatSessionTable(sessions: readonly SessionInfoWire[]): string {
  return formatTable(
    ['VM', 'NAME', 'STATE', 'PID', 'STARTED', 'OUTPUT', 'COMMAND'],
    sessions.map((s) => [s.vm, s.name, sessionState(s), String(s.pid), s.startedAt.replace(/\.\d+Z$/, 'Z'), formatBytes(s.outputBytes), s.argv.join(' ')]),
  );
}

/** `TERM`, `SIGTERM`, `15` → `SIGTERM`; anything else is a usage error naming it. */
export function parseSignal(value: string): string {
  const signals = constants.signals as Record<string, number>;
  const upper = value.toUpperCase();
  if (/^\d+$/.test(value)) {
    const name = Object.keys(signals).find((k) => signals[k] === Number(value));
    if (name) return name;
  } else if (signals[upper] !== undefined) return upper;
  else if (signals[`SIG${upper}`] !== undefined) return `SIG${upper}`;
  throw new InvalidArgumentError(`"${value}" is not a signal (e.g. TERM, SIGINT, 9)`);
}

/** `10`, `2.5`, `10s`, `500ms` → ms. */
export function parseTimeout(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`"${value}" is not a duration (seconds, e.g. 10, 2.5s or 500ms)`);
  return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000));
}

/** A session name, checked before anything is asked of the daemon. */
export function parseSessionName(value: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a session name (letters, digits, _ . -; 1–63, starting with a letter or digit)`);
  return value;
}
