/**
 * The host↔guest agent protocol: constants and message shapes. One byte
 * stream carries frames; see docs/agent.md for the whole picture.
 *
 * Frame: type (u8) · stream id (u32 BE) · payload length (u32 BE) · payload.
 */

/** Bumped on any incompatible change; host and agent must speak the same one. */
export const PROTOCOL_VERSION = 1;

export const FRAME_HEADER = 9;
/** The largest payload a frame may carry; a bigger length is a protocol error (the connection ends). */
export const MAX_FRAME_PAYLOAD = 256 * 1024;
/** Data frames carry at most this much (so one busy stream cannot hog the channel for long). */
export const MAX_DATA_CHUNK = 64 * 1024;
/** Credit each side grants per stream and channel when the stream opens. */
export const INITIAL_WINDOW = 256 * 1024;

export const FrameType = {
  /** Stream 0. JSON: HostHello (host → agent) or AgentHello (agent → host). */
  Hello: 1,
  /** Host → agent. Opens a stream (odd ids, chosen by the host). JSON: OpenRequest. */
  Open: 2,
  /** Channel (u8) · bytes. Counted against the receiver's credit for that channel. */
  Data: 3,
  /** Channel (u8) · increment (u32 BE): the receiver consumed bytes, the sender may send that many more. */
  Window: 4,
  /** Channel (u8): no more data on that channel in this direction. */
  Eof: 5,
  /** JSON: a ControlMessage (signal, resize, started, exit, result, error). */
  Control: 6,
  /** Empty: the sender forgets the stream; pending data is dropped. */
  Close: 7,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Channels of a stream. Credit is per stream, channel and direction. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2 } as const;
export type ChannelId = number;

export interface HostHello {
  protocol: number;
  /** banger's version, for the agent's log. */
  hostVersion: string;
}

export interface AgentHello {
  protocol: number;
  agentVersion: string;
  pid: number;
  /** Seconds since the guest booted (/proc/uptime). */
  uptimeSeconds: number;
  /** Set when the agent refuses the host's protocol; it closes the connection after this hello. */
  refused?: string;
  /** Additive operations this agent serves beyond the base set (e.g. the session ops); absent in older agents. */
  ops?: string[];
  /**
   * Set on a hello the agent sends unasked as a session opens on a channel
   * the host may already hold (virtio-serial: the host's socket outlives the
   * guest's port). Before the host is greeted it means "an agent just opened
   * the port and may not have seen your hello": the host says hello again.
   * After, it means the agent the host spoke to is gone: whatever the host
   * had in flight on that connection is lost. Absent in older agents.
   */
  announce?: boolean;
}

export interface ExecRequest {
  op: 'exec';
  argv: string[];
  /** Added to the base environment (PATH, HOME, USER, LOGNAME, SHELL of the user). */
  env?: Record<string, string>;
  cwd?: string;
  /** User name or numeric uid; the command runs with its uid and primary gid. Default: the agent's user. */
  user?: string;
  /** Run on a pseudo-terminal of this size (through banger-pty): its output on stdout, `resize` control messages; TERM defaults to term or xterm-256color. */
  pty?: { cols: number; rows: number; term?: string };
}

export interface PutFileRequest {
  op: 'put-file';
  path: string;
  /** Permission bits, e.g. 0o644. Default 0o644. */
  mode?: number;
  /** User name or uid; group name or gid. Default: unchanged (the agent's). */
  owner?: string;
  group?: string;
}

export interface GetFileRequest {
  op: 'get-file';
  path: string;
}

export interface FactsRequest {
  op: 'facts';
}

export interface ClockRequest {
  op: 'clock';
  /** The host's wall clock in ms since the epoch, when it sent the request. */
  hostTimeMs: number;
  /** Set the guest clock to the host's (needs root in the guest). */
  set?: boolean;
}

export type OpenRequest = ExecRequest | PutFileRequest | GetFileRequest | FactsRequest | ClockRequest | import('./sessions-protocol.js').SessionRequest;

export interface GuestFacts {
  uptimeSeconds: number;
  load: [number, number, number];
  memory: { totalBytes: number; availableBytes: number };
  /** The root filesystem. */
  disk: { path: string; totalBytes: number; freeBytes: number; availableBytes: number };
  agent: { version: string; pid: number; rssBytes: number };
  /**
   * Whether the guest can reach out yet: a default route (/proc/net/route) and
   * the nameservers of /etc/resolv.conf. Absent from agents older than it.
   */
  network?: GuestNetwork;
}

export interface GuestNetwork {
  defaultRoute: boolean;
  nameservers: string[];
}

export interface ClockResult {
  /** Guest clock minus host clock, ms (positive: the guest is ahead). */
  offsetMs: number;
  /** Whether the guest clock was set. */
  set: boolean;
}

export interface FileStat {
  size: number;
  mode: number;
  uid: number;
  gid: number;
}

/** Messages inside a stream. */
export type ControlMessage =
  | { type: 'signal'; signal: string }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'started'; pid: number }
  | { type: 'exit'; code: number | null; signal: string | null }
  | { type: 'stat'; stat: FileStat }
  | { type: 'result'; result: unknown }
  | { type: 'error'; error: import('@banger/errors').WireError };
