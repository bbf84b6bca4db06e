import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join, resolve } from 'node:path';
import { GUEST_SESSIONS_DIR, SESSION_NAME, SESSION_SEGMENT_BYTES, type SessionInfo } from '@banger/agent';
import { ConflictError, InternalError, NotFoundError, UserError } from '@banger/errors';
import { outputExtent } from './segments.js';
import { controlPath, readJson, specPath, statePath, stdinPath, writeJson, type SessionSpec, type SessionState } from './state.js';

/** Where sessions live: /run/banger/sessions in a guest; BANGER_SESSIONS_DIR elsewhere (tests). */
export const sessionsRoot = (): string => process.env['BANGER_SESSIONS_DIR'] ?? GUEST_SESSIONS_DIR;
/** Per-segment output cap; BANGER_SESSION_SEGMENT_BYTES lets tests use a small one. */
const segmentBytes = (): number => Number(process.env['BANGER_SESSION_SEGMENT_BYTES'] ?? '') || SESSION_SEGMENT_BYTES;

/** How long a start waits for the keeper to record the command's pid. */
const START_TIMEOUT_MS = 15_000;

export function checkName(name: string): void {
  if (!SESSION_NAME.test(name))
    throw new UserError('SESSION_BAD_NAME', `bad session name "${name}": use letters, digits, _ . - (1–63 characters, starting with a letter or digit)`);
}

export const sessionDir = (name: string): string => join(sessionsRoot(), name);

function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The session's record as the host sees it; undefined while it is still starting (or gone). */
export function readSession(name: string): SessionInfo | undefined {
  const dir = sessionDir(name);
  const state = readJson<SessionState>(statePath(dir));
  if (!state || state.state === 'starting' || state.state === 'failed') return undefined;
  const { end, kept } = existsSync(dir) ? outputExtent(dir) : { end: 0, kept: 0 };
  const lost = state.state === 'running' && !alive(state.keeperPid);
  return {
    name: state.name,
    argv: state.argv,
    cwd: state.cwd,
    ...(state.user !== undefined ? { user: state.user } : {}),
    tty: state.tty,
    pid: state.pid,
    startedAt: state.startedAt,
    state: lost ? 'lost' : state.state,
    code: state.code,
    signal: state.signal,
    ...(state.endedAt ? { endedAt: state.endedAt } : {}),
    outputBytes: end,
    keptBytes: kept,
  };
}

export function getSession(name: string): SessionInfo {
  checkName(name);
  const info = readSession(name);
  if (!info) throw new NotFoundError('SESSION_NOT_FOUND', `no session "${name}" in this guest`, { hint: 'see banger vm session list' });
  return info;
}

export function listSessions(): SessionInfo[] {
  if (!existsSync(sessionsRoot())) return [];
  return readdirSync(sessionsRoot())
    .filter((name) => SESSION_NAME.test(name))
    .map(readSession)
    .filter((s): s is SessionInfo => s !== undefined)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
}

/** Creates the session's directory, atomically claiming its name; a generated name takes the first free `<program>-<n>`. */
function claimName(requested: string | undefined, argv0: string): string {
  mkdirSync(sessionsRoot(), { recursive: true, mode: 0o700 });
  if (requested !== undefined) {
    checkName(requested);
    try {
      mkdirSync(sessionDir(requested), { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST')
        throw new ConflictError('SESSION_EXISTS', `a session "${requested}" already exists in this guest`, { hint: 'pick another --name, or remove the ended one: banger vm session rm' });
      throw error;
    }
    return requested;
  }
  const base = (argv0.split('/').at(-1) ?? 'session').replace(/[^A-Za-z0-9_.-]/g, '').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'session';
  for (let n = 1; ; n++) {
    const name = `${base}-${n}`;
    try {
      mkdirSync(sessionDir(name), { mode: 0o700 });
      return name;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * How to run a keeper: the runtime disk's own launcher (loader + node, never
 * the guest's), found beside the agent bundle; elsewhere (tests on the host)
 * this node with the agent bundle.
 */
function keeperCommand(dir: string): string[] {
  const bundle = process.argv[1] ? resolve(process.argv[1]) : '';
  const launcher = join(dirname(dirname(bundle)), 'bin', 'banger-session-keeper');
  if (bundle && existsSync(launcher)) return [launcher, dir];
  return [process.execPath, bundle, 'session-keeper', dir];
}

/** What a start asks for: the command part of a SessionSpec; the name may be left to the store. */
export type StartSpec = Pick<SessionSpec, 'argv' | 'env' | 'cwd' | 'user' | 'uid' | 'gid'> & {
  name?: string;
  /** Run on a pseudo-terminal of this size (under banger-pty). */
  pty?: { rows: number; cols: number };
};

/**
 * banger-pty: on the runtime disk at ../bin/banger-pty from the agent bundle;
 * beside the bundle in a build tree (dist/); BANGER_PTY_HELPER overrides both.
 */
export function ptyHelperPath(): string | undefined {
  const bundle = process.argv[1] ? resolve(process.argv[1]) : '';
  const candidates = [process.env['BANGER_PTY_HELPER'], bundle && join(dirname(dirname(bundle)), 'bin', 'banger-pty'), bundle && join(dirname(bundle), 'banger-pty')];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

function mkfifo(path: string): void {
  // Node has no mkfifo(3); the guest's coreutils does.
  const made = spawnSync('mkfifo', ['-m', '0600', path], { encoding: 'utf8' });
  if (made.status !== 0) throw new InternalError('SESSION_FAILED', `guest: mkfifo ${path} failed: ${(made.stderr || made.error?.message || '').trim()}`);
}

/**
 * Starts a session: claims the name, writes the spec, makes the stdin FIFO,
 * starts the keeper detached and waits for it to record the command's pid.
 * Anything failing on the way removes the directory (nothing half-created).
 */
export async function startSession(request: StartSpec): Promise<SessionInfo> {
  const helper = request.pty ? ptyHelperPath() : undefined;
  if (request.pty && !helper)
    throw new UserError('AGENT_PTY_UNSUPPORTED', 'guest agent: no banger-pty beside it, so no session on a pseudo-terminal', { hint: 'restart the VM so it gets the runtime disk of this banger version' });
  const name = claimName(request.name, request.argv[0]!);
  const dir = sessionDir(name);
  try {
    const { pty, ...rest } = request;
    const spec: SessionSpec = { ...rest, name, tty: pty !== undefined, ...(pty && helper ? { pty: { helper, ...pty } } : {}), segmentBytes: segmentBytes() };
    writeJson(specPath(dir), spec);
    mkfifo(stdinPath(dir));
    if (pty) mkfifo(controlPath(dir));
    const [command, ...args] = keeperCommand(dir);
    const keeper = spawn(command!, args, { detached: true, stdio: 'ignore' });
    keeper.on('error', () => undefined);
    keeper.unref();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const state = readJson<SessionState>(statePath(dir));
      if (state?.state === 'failed') {
        throw new UserError('AGENT_EXEC_FAILED', `guest: cannot run ${request.argv[0]}: ${state.error?.message ?? 'failed'}`, { exitCode: state.code ?? 126 });
      }
      if (state && state.state !== 'starting') return readSession(name)!;
      if (keeper.exitCode !== null && keeper.exitCode !== 0) throw new InternalError('SESSION_FAILED', `guest: the session keeper exited with status ${keeper.exitCode}`);
      if (Date.now() > deadline) {
        keeper.kill('SIGKILL');
        throw new InternalError('SESSION_FAILED', `guest: the session keeper did not start ${request.argv[0]} within ${START_TIMEOUT_MS / 1000} s`);
      }
      await sleep(20);
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Sends a signal to the session's process group (the command and what it started). */
export function signalSession(name: string, signal: string): SessionInfo {
  const info = getSession(name);
  if (info.state !== 'running') throw new UserError('SESSION_ENDED', `session "${name}" has ended (${describeEnd(info)}): nothing to signal`);
  try {
    process.kill(-info.pid, signal as NodeJS.Signals);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
  return getSession(name);
}

/** Tells a tty session's terminal its new size (banger-pty applies it and the command gets SIGWINCH). */
export function resizeSession(name: string, rows: number, cols: number): SessionInfo {
  const info = getSession(name);
  if (!info.tty) throw new UserError('AGENT_BAD_REQUEST', `session "${name}" has no terminal to resize (it was started without --tty)`);
  if (info.state !== 'running') throw new UserError('SESSION_ENDED', `session "${name}" has ended (${describeEnd(info)})`);
  let fd: number;
  try {
    fd = openSync(controlPath(sessionDir(name)), constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new UserError('SESSION_ENDED', `session "${name}" no longer reads its window size (${(error as Error).message})`, { cause: error });
  }
  try {
    writeSync(fd, `${Math.trunc(rows)} ${Math.trunc(cols)}\n`);
  } finally {
    closeSync(fd);
  }
  return info;
}

export function removeSession(name: string): void {
  const info = getSession(name);
  if (info.state === 'running')
    throw new UserError('SESSION_RUNNING', `session "${name}" is still running (pid ${info.pid})`, { hint: `stop it first: banger vm session stop <vm> ${name}` });
  rmSync(sessionDir(name), { recursive: true, force: true });
}

export function describeEnd(info: Pick<SessionInfo, 'state' | 'code' | 'signal'>): string {
  if (info.state === 'running') return 'running';
  if (info.state === 'lost') return 'lost (its keeper died)';
  return info.signal ? `killed by ${info.signal}` : `exited ${info.code}`;
}
