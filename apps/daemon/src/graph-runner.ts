import type { PlanSummaryWire } from '@banger/api';
import { CancelledError } from '@banger/errors';
import { TEST_PAUSE_FILE_ENV, testPausePoint } from '@banger/host';
import {
  SqliteStepStateStore,
  assertGraphSucceeded,
  plan as planGraph,
  run as runPlan,
  summarizePlan,
  type Graph,
  type GraphResult,
} from '@banger/taskgraph';
import type { RunGraphOptions } from '@banger/vm';
import type { DaemonContext } from './context.js';

/** Options of `runGraph`: declared in @banger/vm (its VmGraphRunner takes the same), re-exported for the services. */
export type { RunGraphOptions };

/** What `runGraph` did: the plan when explaining, else the (successful) result. */
export type RunGraphOutcome = { explained: true; plan: PlanSummaryWire } | { explained: false; result: GraphResult };

/** Tail of the queue per lock key: the next run for a key starts when this settles. */
const queues = new Map<string, Promise<void>>();
/** How many runs hold or wait for each key (so `isGraphLocked` answers without racing). */
const holders = new Map<string, number>();

/** Whether a graph run holds or waits for `lockKey` in this daemon (e.g. `kernel rm` refuses then). */
export function isGraphLocked(lockKey: string): boolean {
  return (holders.get(lockKey) ?? 0) > 0;
}

/**
 * Plans and runs a task graph on behalf of a daemon method, the one way
 * services run graphs (kernel pull, image pull/build, VM creation):
 *
 * - step state lives in SQLite (`step_state` of ctx.db), so a re-run skips
 *   what is done and a failed or interrupted run resumes where it stopped;
 * - every StepEvent goes to `emit` (the API streams them as `{"id","event"}`);
 * - `explain` returns the plan and touches nothing (no lock taken either);
 * - runs sharing a lock key are **serialised**: a second `kernel pull
 *   debian-cloud` while one runs waits for it (cancellable while waiting),
 *   then plans against the finished state, so every step it would have
 *   repeated is skipped as satisfied. Two clients never build the same thing
 *   at once and the second never fails with "busy";
 * - a failed graph throws the failing step's error (`StepFailedError`: message
 *   `<step> failed: <why>`, with that error's code, hint and exit code); a
 *   cancelled one throws CancelledError. Otherwise it resolves to the result.
 */
export async function runGraph(ctx: DaemonContext, options: RunGraphOptions): Promise<RunGraphOutcome> {
  const { graphId, signal } = options;
  const steps = process.env[TEST_PAUSE_FILE_ENV] ? withTestPauses(options.steps) : options.steps;
  const store = new SqliteStepStateStore(ctx.db);
  const log = ctx.log.child({ graph: graphId });
  if (options.explain) {
    const summary = summarizePlan(await planGraph(steps, { graphId, store, signal }));
    return {
      explained: true,
      plan: {
        graphId: summary.graphId,
        steps: summary.steps.map((step) => ({ ...step, needs: [...step.needs] })),
        conflicts: summary.conflicts.map((conflict) => ({ ...conflict })),
      },
    };
  }
  const key = options.lockKey ?? graphId;
  const release = await acquire(key, signal, () => log.info('waiting for the running graph with the same key to finish'));
  try {
    const plan = await planGraph(steps, { graphId, store, signal });
    const result = await runPlan(plan, {
      signal,
      onEvent: options.emit,
      logger: log,
      ...(options.allowDestructive ? { allowDestructive: true } : {}),
      ...(options.destructiveHint ? { destructiveHint: options.destructiveHint } : {}),
    });
    log.info({ ok: result.ok, cancelled: result.cancelled, failedStep: result.failedStep?.stepId, ms: Math.round(result.durationMs) }, 'task graph finished');
    assertGraphSucceeded(result);
    return { explained: false, result };
  } finally {
    release();
  }
}

/**
 * The fault suite's hook (tests only, see testPausePoint): each step may
 * pause at `<id>` (marked running, nothing done yet) and at `<id>:after` (its
 * work done, its success not yet recorded), where the test kills something.
 */
function withTestPauses(steps: Graph): Graph {
  return steps.map((step) => ({
    ...step,
    run: async (ctx, report) => {
      await testPausePoint(step.id, ctx.signal);
      const outputs = await step.run(ctx, report);
      await testPausePoint(`${step.id}:after`, ctx.signal);
      return outputs;
    },
  })) as Graph;
}

/** Waits for the runs queued before us on `key`; resolves to the release function. */
async function acquire(key: string, signal: AbortSignal, onWait: () => void): Promise<() => void> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  // Our turn ends when we release, whether or not the ones before us finished well.
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  holders.set(key, (holders.get(key) ?? 0) + 1);
  const done = (): void => {
    release();
    const left = (holders.get(key) ?? 1) - 1;
    if (left === 0) holders.delete(key);
    else holders.set(key, left);
    if (queues.get(key) === tail) queues.delete(key);
  };
  if ((holders.get(key) ?? 0) > 1) onWait();
  try {
    await waitOrAbort(previous, signal);
  } catch (error) {
    // Give up our place; whoever queued after us still waits for `previous` through `tail`.
    done();
    throw error;
  }
  return done;
}

function waitOrAbort(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(cancelled(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(cancelled(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
    );
  });
}

function cancelled(signal: AbortSignal): CancelledError {
  return signal.reason instanceof CancelledError ? signal.reason : new CancelledError('cancelled while waiting for another run of the same graph');
}
