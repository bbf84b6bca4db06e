/**
 * How long-running library work reports what it is doing, without knowing
 * who listens: the daemon turns these calls into task-graph step events.
 * Every method is optional so callers pass only what they render.
 */
export interface ProgressSink {
  /** One line of human-readable output (a tool's log line, "extracting vmlinux"). */
  line?(text: string): void;
  /** Bytes (or items) done so far, and the total when known. */
  bytes?(done: number, total?: number): void;
}

export const silentProgress: ProgressSink = {};
