import { BangerError, CancelledError, ConflictError, InternalError, toWireError } from '@banger/errors';
import type { StepEvent } from './events.js';
import { computeFingerprint, serializeFingerprint, type Fingerprint } from './fingerprint.js';
import { plan as makePlan, type Plan, type PlannedStep } from './plan.js';
import { ProgressThrottle } from './progress-throttle.js';
import { Scratch } from './scratch.js';
import type { StepStateStore } from './state-store.js';
import type { Graph, StepContext, StepLogger, StepReport } from './step.js';
import { StepFailedError } from './step-failed-error.js';

/** Options of `run()`. */
export interface RunOptions {
  /** Required when `run()` is given a graph rather than a plan. */
  readonly graphId?: string;
  /** Required when `run()` is given a graph rather than a plan (a plan carries its store). */
  readonly store?: StepStateStore;
  /** Aborting cancels the run: running steps see `ctx.signal` abort, nothing new starts. */
  readonly signal?: AbortSignal;
  /** Let steps the plan reports as destructive run. Without it such a plan is refused before anything runs. */
  readonly allowDestructive?: boolean;
  /** The hint of the refusal, naming the caller's flag (e.g. "re-run with --force to recreate it"). */
  readonly destructiveHint?: string;
  /** Receives every event, in order. A throwing listener is logged and ignored. */
  readonly onEvent?: (event: StepEvent) => void;
  /** Most steps running at once. Default 4. */
  readonly concurrency?: number;
  /**
   * After a failure: false (default) lets running steps finish and starts
   * nothing new (the rest is reported `blocked by <failed id>`); true keeps
   * starting steps that do not depend on the failure, like `make -k`, so a
   * retry has less to redo.
   */
  readonly keepGoing?: boolean;
  readonly logger?: StepLogger;
}

/** How one step ended in a run. */
export type StepOutcome =
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'succeeded'; readonly durationMs: number }
  | { readonly status: 'failed'; readonly durationMs: number; readonly error: StepFailedError }
  | { readonly status: 'blocked'; readonly by: string }
  | { readonly status: 'cancelled' };

/** The result of `run()`. It resolves (never rejects) once every started step has settled. */
export interface GraphResult {
  readonly graphId: string;
  readonly ok: boolean;
  readonly cancelled: boolean;
  readonly durationMs: number;
  /** Per step id. */
  readonly steps: Readonly<Record<string, StepOutcome>>;
  /** Outputs of the steps that succeeded or were skipped (recorded outputs), by step id. */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** The first step that failed, with its error (its message names the step; hint included). */
  readonly failedStep?: { readonly stepId: string; readonly error: StepFailedError };
}

/**
 * Throws the error that explains a non-ok result: the first failed step's
 * `StepFailedError`, or `CancelledError` when the run was cancelled.
 */
export function assertGraphSucceeded(result: GraphResult): void {
  if (result.ok) return;
  if (result.failedStep) throw result.failedStep.error;
  throw new CancelledError(`${result.graphId} was cancelled`, { hint: 'run the same command again to resume where it stopped' });
}

/** Graph instances being applied in this process (one run per graph id at a time): the run's signal and its end. */
const active = new Map<string, { signal: AbortSignal; ended: Promise<void> }>();

/**
 * Whether `run()` is applying this graph id in this process right now. A
 * 'running' row in the state store for a graph that is not running here was
 * left by a killed process (the next plan says `interrupted`).
 */
export function isGraphRunning(graphId: string): boolean {
  return active.has(graphId);
}

/**
 * When this graph id is running here but its run was cancelled (its caller
 * went away: Ctrl-C, a killed CLI), resolves once the run has unwound; else
 * undefined. A command that must not overlap the run (deleting its VM) waits
 * for a cancelled one instead of refusing: nobody is left to wait for it.
 */
export function cancelledGraphEnd(graphId: string): Promise<void> | undefined {
  const entry = active.get(graphId);
  return entry?.signal.aborted ? entry.ended : undefined;
}

const silentLogger: StepLogger = { debug() {}, info() {}, warn() {}, error() {} };

const PENDING = 'waiting';
const RUNNING = 'running';
type Status = typeof PENDING | typeof RUNNING | StepOutcome['status'];

/**
 * Applies a plan (or plans and applies a graph): skips what the plan skips,
 * runs the rest as soon as their needs are done (up to `concurrency` at once),
 * persists every transition and emits `StepEvent`s. Throws `ConflictError`
 * before doing anything when the plan has destructive steps and
 * `allowDestructive` is not set (`TASK_GRAPH_DESTRUCTIVE`), or when the same
 * graph id is already running in this process (`TASK_GRAPH_BUSY`); otherwise
 * resolves to a `GraphResult`, also when a step failed or the run was cancelled.
 */
export async function run(planOrGraph: Plan | Graph, options: RunOptions = {}): Promise<GraphResult> {
  const signal = options.signal ?? new AbortController().signal;
  const graphId = isPlan(planOrGraph) ? planOrGraph.graphId : options.graphId;
  if (graphId !== undefined && active.has(graphId)) {
    throw new ConflictError('TASK_GRAPH_BUSY', `${graphId} is already running`, {
      hint: 'wait for the other command to finish, or cancel it',
    });
  }
  let end = (): void => undefined;
  if (graphId !== undefined) active.set(graphId, { signal, ended: new Promise<void>((resolve) => (end = resolve)) });
  try {
    const plan = isPlan(planOrGraph) ? planOrGraph : await planFor(planOrGraph, options, signal);
    if (plan.conflicts.length > 0 && !options.allowDestructive) {
      const what = plan.conflicts.map((c) => `${c.stepId} ${c.description}`).join('; ');
      throw new ConflictError('TASK_GRAPH_DESTRUCTIVE', `${plan.graphId}: refusing to run a step that destroys data: ${what}`, {
        hint: options.destructiveHint ?? 'nothing was changed; run again allowing destructive steps to accept the loss',
      });
    }
    return await apply(plan, options, signal, options.logger ?? silentLogger, Math.max(1, options.concurrency ?? 4));
  } finally {
    if (graphId !== undefined) active.delete(graphId);
    end();
  }
}

async function apply(plan: Plan, options: RunOptions, signal: AbortSignal, log: StepLogger, concurrency: number): Promise<GraphResult> {
  const { graphId, store } = plan;
  const emit = (event: StepEvent): void => {
    try {
      options.onEvent?.(event);
    } catch (error) {
      log.warn({ graphId, error: String(error) }, 'task graph event listener threw');
    }
  };
  const began = performance.now();
  emit({
    type: 'graph-planned',
    time: Date.now(),
    graphId,
    steps: plan.steps.map((s) => ({ id: s.id, title: s.title, needs: [...s.needs], action: s.action, reason: s.reason })),
  });

  const status = new Map<string, Status>(plan.steps.map((s) => [s.id, PENDING]));
  const outcomes: Record<string, StepOutcome> = {};
  const outputs: Record<string, unknown> = {};
  const digests = new Map<string, string>();
  const running = new Set<Promise<void>>();
  const blockers = new Map<string, string>();
  let firstFailure: { stepId: string; error: StepFailedError } | undefined;

  const settle = (id: string, outcome: StepOutcome): void => {
    status.set(id, outcome.status);
    outcomes[id] = outcome;
  };

  const execute = async (planned: PlannedStep): Promise<void> => {
    const { step } = planned;
    const scratch = new Scratch();
    const throttle = new ProgressThrottle((done, total, unit) =>
      emit({ type: 'step-progress', time: Date.now(), graphId, stepId: step.id, done, ...(total === undefined ? {} : { total }), unit }),
    );
    let finished = false;
    const stepOutputs = Object.fromEntries(step.needs.map((id) => [id, outputs[id]]));
    const ctx: StepContext = {
      graphId,
      stepId: step.id,
      signal,
      outputs: stepOutputs,
      previousOutputs: planned.previous?.status === 'succeeded' ? planned.previous.outputs : undefined,
      need: <T>(id: string): T => {
        if (!step.needs.includes(id)) {
          throw new InternalError('TASK_GRAPH_UNDECLARED_NEED', `step "${step.id}" read the outputs of "${id}", which it does not need`);
        }
        return stepOutputs[id] as T;
      },
      tempPath: (finalPath) => scratch.tempPath(finalPath),
      commit: (temp, finalPath) => scratch.commit(temp, finalPath),
      atomicWrite: (finalPath, content) => scratch.atomicWrite(finalPath, content),
      log,
    };
    const report: StepReport = {
      line: (text) => {
        if (finished) return;
        // One event per line, so line-oriented renderers stay one line per event.
        for (const line of text.replace(/\r?\n$/, '').split(/\r?\n/)) {
          emit({ type: 'step-output', time: Date.now(), graphId, stepId: step.id, line });
        }
      },
      progress: (done, total) => {
        if (!finished) throttle.report(done, total, 'items');
      },
      bytes: (done, total) => {
        if (!finished) throttle.report(done, total, 'bytes');
      },
    };

    const startedAt = Date.now();
    const t0 = performance.now();
    let fingerprint: Fingerprint = planned.fingerprint;
    let marked = false;
    try {
      // Inputs are re-read now: a need that just ran may have changed the files they hash.
      const needDigests = Object.fromEntries(step.needs.map((id) => [id, digests.get(id)!]));
      fingerprint = computeFingerprint(await step.inputs(ctx), needDigests);
      store.markRunning(graphId, step.id, serializeFingerprint(fingerprint), startedAt);
      marked = true;
      emit({ type: 'step-started', time: Date.now(), graphId, stepId: step.id });
      const result = await step.run(ctx, report);
      const json = JSON.stringify(result ?? null);
      finished = true;
      await scratch.cleanup();
      throttle.flush();
      const durationMs = performance.now() - t0;
      store.markSucceeded(graphId, step.id, { finishedAt: Date.now(), durationMs, outputs: JSON.parse(json) });
      outputs[step.id] = JSON.parse(json);
      digests.set(step.id, fingerprint.digest);
      settle(step.id, { status: 'succeeded', durationMs });
      emit({ type: 'step-succeeded', time: Date.now(), graphId, stepId: step.id, durationMs: Math.round(durationMs) });
    } catch (error) {
      finished = true;
      await scratch.cleanup();
      throttle.flush();
      const durationMs = performance.now() - t0;
      const end = Date.now();
      try {
        if (!marked) store.markRunning(graphId, step.id, serializeFingerprint(fingerprint), startedAt);
        if (signal.aborted) store.markCancelled(graphId, step.id, { finishedAt: end, durationMs });
        else store.markFailed(graphId, step.id, { finishedAt: end, durationMs, error: toWireError(error) });
      } catch (storeError) {
        log.error({ graphId, stepId: step.id, error: String(storeError) }, 'task graph could not record a step result');
      }
      if (signal.aborted) {
        settle(step.id, { status: 'cancelled' });
        emit({ type: 'step-cancelled', time: end, graphId, stepId: step.id });
        return;
      }
      const failure = new StepFailedError(step.id, error, step.hint);
      firstFailure ??= { stepId: step.id, error: failure };
      settle(step.id, { status: 'failed', durationMs, error: failure });
      const hint = error instanceof BangerError && error.hint ? error.hint : step.hint;
      emit({ type: 'step-failed', time: end, graphId, stepId: step.id, error: toWireError(error), ...(hint ? { hint } : {}) });
      log.warn({ graphId, stepId: step.id, error: failure.message }, 'task graph step failed');
    }
  };

  const pump = (): void => {
    for (const planned of plan.steps) {
      if (status.get(planned.id) !== PENDING) continue;
      const broken = planned.needs.find((id) => status.get(id) === 'failed' || status.get(id) === 'blocked');
      if (broken) {
        const by = blockers.get(broken) ?? broken;
        blockers.set(planned.id, by);
        settle(planned.id, { status: 'blocked', by });
        emit({ type: 'step-blocked', time: Date.now(), graphId, stepId: planned.id, by });
        continue;
      }
      if (!planned.needs.every((id) => status.get(id) === 'succeeded' || status.get(id) === 'skipped')) continue;
      if (planned.action === 'skip') {
        outputs[planned.id] = planned.previous?.outputs;
        digests.set(planned.id, planned.fingerprint.digest);
        settle(planned.id, { status: 'skipped', reason: planned.reason });
        emit({ type: 'step-skipped', time: Date.now(), graphId, stepId: planned.id, reason: planned.reason });
        continue;
      }
      if (signal.aborted || (firstFailure && !options.keepGoing) || running.size >= concurrency) continue;
      status.set(planned.id, RUNNING);
      const task: Promise<void> = execute(planned).finally(() => running.delete(task));
      running.add(task);
    }
  };

  pump();
  while (running.size > 0) {
    await Promise.race(running);
    pump();
  }

  // Whatever never started: cancelled with the run, or stopped by the first failure.
  for (const planned of plan.steps) {
    if (status.get(planned.id) !== PENDING) continue;
    if (signal.aborted || !firstFailure) {
      settle(planned.id, { status: 'cancelled' });
      emit({ type: 'step-cancelled', time: Date.now(), graphId, stepId: planned.id });
    } else {
      settle(planned.id, { status: 'blocked', by: firstFailure.stepId });
      emit({ type: 'step-blocked', time: Date.now(), graphId, stepId: planned.id, by: firstFailure.stepId });
    }
  }

  const durationMs = performance.now() - began;
  const cancelled = !firstFailure && Object.values(outcomes).some((o) => o.status === 'cancelled');
  const ok = !firstFailure && !cancelled;
  emit({
    type: 'graph-finished',
    time: Date.now(),
    graphId,
    ok,
    durationMs: Math.round(durationMs),
    ...(firstFailure ? { failedStep: firstFailure.stepId } : {}),
    ...(cancelled ? { cancelled: true } : {}),
  });
  return { graphId, ok, cancelled, durationMs, steps: outcomes, outputs, ...(firstFailure ? { failedStep: firstFailure } : {}) };
}

function isPlan(value: Plan | Graph): value is Plan {
  return !Array.isArray(value);
}

async function planFor(graph: Graph, options: RunOptions, signal: AbortSignal): Promise<Plan> {
  if (!options.graphId || !options.store) {
    throw new InternalError('TASK_GRAPH_OPTIONS', 'run(graph) needs options.graphId and options.store (or pass a plan)');
  }
  return makePlan(graph, { graphId: options.graphId, store: options.store, signal });
}
