/**
 * The session operations of the agent protocol (docs/agent.md, "Sessions").
 * Additive: an agent that has them lists them in its hello (`ops`); the
 * protocol version did not change, so older agents still serve everything
 * else and the host refuses session calls to them with a clear error.
 */

/** A session's name: what `banger vm session …` takes; also its directory name in the guest. */
export const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Where the guest keeps its sessions (a tmpfs: a VM stop ends them, and their records). */
export const GUEST_SESSIONS_DIR = '/run/banger/sessions';

/** Each output segment holds at most this much; two are kept (the current one and the one before). */
export const SESSION_SEGMENT_BYTES = 8 * 1024 * 1024;

export const SESSION_OPS = ['session-start', 'session-list', 'session-logs', 'session-send', 'session-signal', 'session-rm', 'session-resize'] as const;

export interface SessionStartRequest {
  op: 'session-start';
  /** Generated (`<program>-<n>`) when omitted. */
  name?: string;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** Run on a pseudo-terminal of this size, under banger-pty from the runtime disk; TERM defaults to xterm-256color. */
  tty?: { cols: number; rows: number; term?: string };
}

export interface SessionListRequest {
  op: 'session-list';
  /** Only this session (an unknown name is an error). */
  name?: string;
}

export interface SessionLogsRequest {
  op: 'session-logs';
  name: string;
  /** Only the last `tail` lines of what is kept (default: everything kept). */
  tail?: number;
  /** Keep sending new output until the session ended and all of it was sent (or the host closes the stream). */
  follow?: boolean;
}

export interface SessionSendRequest {
  op: 'session-send';
  name: string;
}

export interface SessionSignalRequest {
  op: 'session-signal';
  name: string;
  signal: string;
}

export interface SessionRmRequest {
  op: 'session-rm';
  name: string;
}

/** A tty session's new window size. */
export interface SessionResizeRequest {
  op: 'session-resize';
  name: string;
  rows: number;
  cols: number;
}

export type SessionRequest = SessionResizeRequest | SessionStartRequest | SessionListRequest | SessionLogsRequest | SessionSendRequest | SessionSignalRequest | SessionRmRequest;

/** What the guest knows of one session. */
export interface SessionInfo {
  name: string;
  argv: string[];
  cwd: string;
  user?: string;
  tty: boolean;
  /** The command's pid (it leads its own process group). */
  pid: number;
  /** ISO 8601, guest clock. */
  startedAt: string;
  /** `lost`: the supervisor died without recording an end (killed from inside the guest). */
  state: 'running' | 'exited' | 'lost';
  code: number | null;
  signal: string | null;
  endedAt?: string;
  /** Bytes of output the session produced since it started (the guest keeps at most two segments of it). */
  outputBytes: number;
  /** Bytes of output still kept in the guest. */
  keptBytes: number;
}
