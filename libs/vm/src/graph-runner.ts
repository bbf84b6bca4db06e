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

/** How `vm run` got its VM. */
export type VmRunHow = 'created' | 'started' | 'reused';

/**
 * `vm run` names its VM before anything runs, so the CLI knows which VM to
 * delete with `--rm` even when the run is interrupted: the name is data,
 * never parsed out of a graph id.
 */
export interface VmSelectedEvent {
  type: 'vm-selected';
  time: number;
  graphId: string;
  vm: string;
  how: VmRunHow;
}

/** What `vm create` / `vm start` / `vm run` stream: task-graph events plus notices. */
export type VmProgressEvent = StepEvent | VmNoticeEvent | VmSelectedEvent;
