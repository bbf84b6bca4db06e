import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { SegmentWriter } from './segments.js';
import { controlPath, readJson, specPath, statePath, stdinPath, writeJson, type SessionSpec, type SessionState } from './state.js';

/** After the command exited, how long output still held open by its leftovers (`cmd &`) is read. */
const DRAIN_AFTER_EXIT_MS = 2_000;

/**
 * The session keeper: `banger-session-keeper session-keeper <dir>`, one per
 * session, started by the agent detached (its own session, setsid) so that
 * it outlives the agent, the daemon and the host connection. It runs the
 * command from `<dir>/spec.json` as the leader of its own process group,
 * with stdin from the FIFO `<dir>/stdin` (opened read-write, so it never
 * reports EOF and never blocks), writes stdout and stderr interleaved into
 * rotated segments, and records the pid, then the exit, in
 * `<dir>/state.json`. The agent answers every session request by reading
 * that directory, so a restarted agent sees every session.
 */
export async function runKeeper(dir: string): Promise<number> {
  const spec = readJson<SessionSpec>(specPath(dir));
  if (!spec) {
    process.stderr.write(`banger-session-keeper: no readable ${specPath(dir)}\n`);
    return 2;
  }
  // Signals are for the command (session stop targets its group); the keeper must stay to record the end.
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE', 'SIGQUIT'] as const) process.on(signal, () => undefined);
  const state: SessionState = {
    name: spec.name,
    argv: spec.argv,
    cwd: spec.cwd,
    ...(spec.user !== undefined ? { user: spec.user } : {}),
    tty: spec.tty,
    keeperPid: process.pid,
    pid: 0,
    startedAt: new Date().toISOString(),
    state: 'starting',
    code: null,
    signal: null,
  };
  const writer = new SegmentWriter(dir, spec.segmentBytes);
  const stdin = openSync(stdinPath(dir), 'r+');
  // A tty session runs under banger-pty (docs/agent.md, "The PTY helper"): keystrokes from the stdin FIFO, the
  // terminal's output on its stdout, window sizes from the control FIFO as its fd 3 (read-write: never EOF).
  const control = spec.pty ? openSync(controlPath(dir), 'r+') : undefined;
  const argv = spec.pty
    ? [spec.pty.helper, '--rows', String(spec.pty.rows), '--cols', String(spec.pty.cols), '--control-fd', '3', '--', ...spec.argv]
    : spec.argv;
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: spec.cwd,
    env: spec.env,
    ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid ?? spec.uid }),
    detached: true,
    stdio: control === undefined ? [stdin, 'pipe', 'pipe'] : [stdin, 'pipe', 'pipe', control],
  });
  const closeFifos = (): void => {
    closeSync(stdin);
    if (control !== undefined) closeSync(control);
  };
  // banger-pty exits 128 + n when signal n killed the command: report that as the signal (as without a tty).
  const endOf = (code: number | null, signal: string | null): { code: number | null; signal: string | null } => {
    if (spec.pty && code !== null && code > 128 && code < 128 + 65) {
      const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
      if (name) return { code: null, signal: name };
    }
    return { code, signal };
  };
  return new Promise<number>((resolve) => {
    let ended = false;
    const finish = (update: Partial<SessionState>): void => {
      if (ended) return;
      ended = true;
      writer.close();
      writeJson(statePath(dir), { ...state, ...update, endedAt: new Date().toISOString() });
      resolve(0);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      closeFifos();
      finish({ state: 'failed', code: error.code === 'ENOENT' ? 127 : 126, error: { message: error.message, ...(error.code ? { errno: error.code } : {}) } });
    });
    child.once('spawn', () => {
      closeFifos();
      state.pid = child.pid!;
      state.state = 'running';
      writeJson(statePath(dir), state);
    });
    child.stdout!.on('data', (chunk: Buffer) => writer.write(chunk));
    child.stderr!.on('data', (chunk: Buffer) => writer.write(chunk));
    child.once('exit', (code, signal) => {
      setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish({ state: 'exited', ...endOf(code, signal) });
      }, DRAIN_AFTER_EXIT_MS);
    });
    // Every byte of output was written: the end can be recorded.
    child.once('close', (code: number | null, signal: string | null) => {
      if (child.pid !== undefined) finish({ state: 'exited', ...endOf(code, signal) });
    });
  });
}
