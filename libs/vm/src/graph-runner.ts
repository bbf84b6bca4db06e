import type { GraphRunner, StepEvent } from '@banger/taskgraph';

export type { RunGraphOptions } from '@banger/taskgraph';

/**
 * How the VM layer runs its graphs: the daemon passes its `runGraph`
 * (step state in SQLite, events streamed to the CLI, runs serialised per
 * lock key); tests pass one over the engine directly.
 */
export type VmGraphRunner = GraphRunner;

/** A line the CLI prints as is before the progress (the `spec:` line, a TCG warning). */
export interface VmNoticeEvent {
  type: 'vm-notice';
  time: number;
  graphId: string;
  line: string;
}

/** What `vm create` / `vm start` stream: task-graph events plus notices. */
export type VmProgressEvent = StepEvent | VmNoticeEvent;
