import type { Graph, GraphResult, PlanSummary, StepEvent } from '@banger/taskgraph';

/**
 * How the VM layer runs its graphs: the daemon passes its `runGraph`
 * (step state in SQLite, events streamed to the CLI, runs serialised per
 * lock key); tests pass one over the engine directly. Same contract as
 * apps/daemon/src/graph-runner.ts: a failed run throws the step's error.
 */
export type VmGraphRunner = (options: {
  graphId: string;
  steps: Graph;
  signal: AbortSignal;
  emit: (event: StepEvent) => void;
  explain?: boolean;
  allowDestructive?: boolean;
  destructiveHint?: string;
  lockKey?: string;
}) => Promise<{ explained: true; plan: PlanSummary } | { explained: false; result: GraphResult }>;

/** A line the CLI prints as is before the progress (the `spec:` line, a TCG warning). */
export interface VmNoticeEvent {
  type: 'vm-notice';
  time: number;
  graphId: string;
  line: string;
}

/** What `vm create` / `vm start` stream: task-graph events plus notices. */
export type VmProgressEvent = StepEvent | VmNoticeEvent;
