import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the agent writes before it starts a keeper: everything the keeper needs. */
export interface SessionSpec {
  name: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  user?: string;
  uid?: number;
  gid?: number;
  tty: boolean;
  /** With tty: banger-pty's path and the initial window size (the command runs under it, fd 3 its control FIFO). */
  pty?: { helper: string; rows: number; cols: number };
  /** Per-segment cap (tests use a small one). */
  segmentBytes: number;
}

/** What the keeper records: at start (running, pid) and at the end (code or signal). */
export interface SessionState {
  name: string;
  argv: string[];
  cwd: string;
  user?: string;
  tty: boolean;
  keeperPid: number;
  pid: number;
  startedAt: string;
  state: 'starting' | 'running' | 'exited' | 'failed';
  code: number | null;
  signal: string | null;
  endedAt?: string;
  /** Why the command could not start (state failed). */
  error?: { message: string; errno?: string };
}

export const specPath = (dir: string): string => join(dir, 'spec.json');
export const statePath = (dir: string): string => join(dir, 'state.json');
export const stdinPath = (dir: string): string => join(dir, 'stdin');
/** A tty session's window-size FIFO: `"rows cols\n"` lines, read by banger-pty as its control fd. */
export const controlPath = (dir: string): string => join(dir, 'control');

/** Replaces a JSON file atomically (a reader sees the old or the new one, never half). */
export function writeJson(path: string, value: unknown): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, `${JSON.stringify(value)}\n`);
  renameSync(temp, path);
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}
