import type { Graph, GraphResult, PlanSummary, StepEvent } from '@banger/taskgraph';

/**
 * What running a task graph on behalf of a daemon method takes. The daemon's
 * `runGraph` (apps/daemon/src/graph-runner.ts) accepts exactly this; it is
 * declared here, once, because a lib cannot import the app.
 */
export interface RunGraphOptions {
  /** The graph instance (`kernel:debian-cloud`, `image-build:debian-minimal`, `vm:sandbox`); keys the step state. */
  graphId: string;
  steps: Graph;
  /** The handler's signal: aborting cancels the running steps (they clean up), nothing new starts. */
  signal: AbortSignal;
  /** Receives every StepEvent in order; pass the handler's `emit` so the CLI renders them. */
  emit: (event: StepEvent) => void;
  /** Plan only: return the plan with the reason for every step and change nothing. */
  explain?: boolean;
  /** Let steps that destroy user data run (the plan lists them as conflicts otherwise and nothing runs). */
  allowDestructive?: boolean;
  /** The hint of a destructive refusal, naming the caller's flag (`re-run with --force`). */
  destructiveHint?: string;
  /**
   * What two runs must not do at once, when more than this graph id: e.g.
   * `image pull X` and `image build X` both write images/X, so both lock
   * `image:X`. Default: the graph id.
   */
  lockKey?: string;
}

/**
 * How the VM layer runs its graphs: the daemon passes its `runGraph`
 * (step state in SQLite, events streamed to the CLI, runs serialised per
 * lock key); tests pass one over the engine directly. Same contract as
 * apps/daemon/src/graph-runner.ts: a failed run throws the step's error.
 */
export type VmGraphRunner = (
  options: RunGraphOptions,
) => Promise<{ explained: true; plan: PlanSummary } | { explained: false; result: GraphResult }>;

/** A line the CLI prints as is before the progress (the `spec:` line, a TCG warning). */
export interface VmNoticeEvent {
  type: 'vm-notice';
  time: number;
  graphId: string;
  line: string;
}

/** What `vm create` / `vm start` stream: task-graph events plus notices. */
export type VmProgressEvent = StepEvent | VmNoticeEvent;
