import { readFileSync } from 'node:fs';

/**
 * Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), and
 * field 3 (state). The comm field may contain spaces and parentheses, so
 * parse from the last ')'.
 */
export function readProcStat(pid: number): { startTime: string; state: string } | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  const state = rest[0];
  const startTime = rest[19];
  return state && startTime ? { state, startTime } : undefined;
}

/** The start time of a live process (to tell it from a later one given the same pid); undefined when it is gone. */
export function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

/**
 * True when `pid` runs, zombies excluded (a detached process nobody reaps
 * lingers as one: gone for every purpose here), and, when `startTime` is
 * given, is the same process that had it then rather than a reuse of the pid.
 */
export function processAlive(pid: number, startTime?: string): boolean {
  const stat = readProcStat(pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}
