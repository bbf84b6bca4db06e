import { constants } from 'node:os';

/** The number of a signal name (`SIGKILL` → 9), or undefined for a name Linux does not have. */
export function signalNumber(signal: string): number | undefined {
  return (constants.signals as Record<string, number>)[signal];
}

/** A shell's exit status for a command's end: its code, or 128 + n when signal n killed it. */
export function exitStatusOf(end: { code: number | null; signal: string | null }): number {
  if (end.code !== null) return end.code;
  const n = end.signal === null ? undefined : signalNumber(end.signal);
  return n === undefined ? 255 : 128 + n;
}
