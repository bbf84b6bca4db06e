import { summarizePlan, type PlanSummary } from './format-plan.js';
import { plan } from './plan.js';
import { assertGraphSucceeded, run, type GraphResult } from './run.js';
import type { StepEvent } from './events.js';
import type { StepStateStore } from './state-store.js';
import type { Graph, StepReport } from './step.js';

/**
 * What running a task graph on behalf of a daemon method takes. The daemon's
 * `runGraph` (apps/daemon/src/graph-runner.ts) accepts exactly this; the
 * domain libs (kernels, images, oci, vm) build graphs and hand them to a
 * `GraphRunner` they are given, so one runner — one step-state table, one
 * set of locks — runs every graph, nested ones included.
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

/** What a run did: the plan when explaining, else the (successful) result. */
export type GraphRunOutcome = { explained: true; plan: PlanSummary } | { explained: false; result: GraphResult };

/**
 * Runs a graph: step state persisted, events streamed, runs serialised per
 * lock key. A failed run throws the failing step's error (StepFailedError),
 * a cancelled one CancelledError.
 */
export type GraphRunner = (options: RunGraphOptions) => Promise<GraphRunOutcome>;

/**
 * A runner straight over the engine with no locks (tests, tools): plans
 * against `store`, runs, and throws like the daemon's runner on failure.
 */
export function directGraphRunner(store: StepStateStore): GraphRunner {
  return async (options) => {
    const planned = await plan(options.steps, { graphId: options.graphId, store, signal: options.signal });
    if (options.explain) return { explained: true, plan: summarizePlan(planned) };
    const result = await run(planned, {
      signal: options.signal,
      onEvent: options.emit,
      ...(options.allowDestructive ? { allowDestructive: true } : {}),
      ...(options.destructiveHint ? { destructiveHint: options.destructiveHint } : {}),
    });
    assertGraphSucceeded(result);
    return { explained: false, result };
  };
}

/**
 * The `emit` of a graph run inside a step of another graph (a VM's
 * `vm.fetch-image` running the `image:<name>` pull graph): the inner
 * graph's output and byte progress become the outer step's, and each inner
 * step that runs or is skipped is one line, so the user sees one step.
 */
export function nestedEmit(report: StepReport): (event: StepEvent) => void {
  // The nested plan's titles say what a step will do ("Pull kernel x from oci://…",
  // "Build image y from recipe z"): worth more to the user than the step id.
  const titles = new Map<string, string>();
  const name = (graphId: string, stepId: string) => titles.get(`${graphId}\0${stepId}`) ?? stepId;
  return (event) => {
    if (event.type === 'graph-planned') for (const step of event.steps) titles.set(`${event.graphId}\0${step.id}`, step.title);
    else if (event.type === 'step-started') report.line(`${event.graphId}: ${name(event.graphId, event.stepId)}`);
    else if (event.type === 'step-skipped') report.line(`${event.graphId}: ${name(event.graphId, event.stepId)} skipped (${event.reason})`);
    else if (event.type === 'step-output') report.line(event.line);
    else if (event.type === 'step-progress') {
      if (event.unit === 'bytes') report.bytes(event.done, event.total);
      else report.progress(event.done, event.total);
    }
  };
}
