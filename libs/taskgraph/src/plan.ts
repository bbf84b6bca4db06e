import { BangerError, CancelledError, InternalError } from '@banger/errors';
import { changedInputs, changedNeeds, computeFingerprint, parseFingerprint, type Fingerprint } from './fingerprint.js';
import type { StepRecord, StepStateStore } from './state-store.js';
import type { Graph, PlanContext, Satisfaction, Step } from './step.js';
import { orderGraph } from './validate-graph.js';

/** What the plan decided for one step. */
export type StepAction = 'run' | 'skip';

/** One step of a plan: the decision and its exact reason. */
export interface PlannedStep {
  readonly step: Step<unknown>;
  readonly id: string;
  readonly title: string;
  readonly needs: readonly string[];
  readonly action: StepAction;
  /**
   * Why, as one of these exact strings: `satisfied`, `never ran`, `interrupted`,
   * `failed last time`, `cancelled last time`, `inputs changed: <names>`,
   * `dependency re-ran: <id>`, `dependency changed: <ids>`, `not satisfied`,
   * `not satisfied: <what isSatisfied said>`; an own reason (never ran,
   * interrupted, failed, cancelled, inputs changed) is followed by
   * ` — <what the step plans>` when the step has `plans`.
   */
  readonly reason: string;
  /** The fingerprint computed while planning (recomputed when the step actually starts). */
  readonly fingerprint: Fingerprint;
  /** The step's recorded state before this plan, if any. */
  readonly previous: StepRecord | undefined;
}

/** A step that would destroy user data if the plan ran. */
export interface PlanConflict {
  readonly stepId: string;
  readonly title: string;
  /** What `destroys()` said, e.g. "recreates the disk of vm sandbox". */
  readonly description: string;
}

/** The result of `plan()`: every step in run order, with no side effects performed. */
export interface Plan {
  readonly graphId: string;
  readonly steps: readonly PlannedStep[];
  readonly conflicts: readonly PlanConflict[];
  /** The state store the plan was read from; `run()` writes to the same one. */
  readonly store: StepStateStore;
}

/** Options of `plan()`. */
export interface PlanOptions {
  /** The graph instance, e.g. `vm:sandbox`; keys the persisted state. */
  readonly graphId: string;
  readonly store: StepStateStore;
  readonly signal?: AbortSignal;
}

/**
 * Decides, for every step, whether it must run and why — reading only the
 * state store and the steps' own side-effect-free checks (`inputs`,
 * `isSatisfied`, `destroys`). Throws `InternalError` for an invalid graph
 * (unknown need, cycle, duplicate id).
 */
export async function plan(graph: Graph, options: PlanOptions): Promise<Plan> {
  const { graphId, store } = options;
  const signal = options.signal ?? new AbortController().signal;
  const ordered = orderGraph(graph, graphId);
  const records = store.load(graphId);
  const conflicts = new Map<string, PlanConflict>();

  // Every step's own checks (inputs, recorded state, isSatisfied) start at
  // once: they only read, and overlapping their IO is what keeps a no-op plan
  // fast. Combining them with the needs' decisions then follows the graph.
  const checks = new Map(ordered.map((step) => [step.id, ownChecks(graphId, step, records, signal)]));
  const decisions = new Map<string, Promise<PlannedStep>>();
  const decideStep = (step: Step<unknown>): Promise<PlannedStep> => {
    const decision = (async () => {
      const [own, needs] = await Promise.all([checks.get(step.id)!, Promise.all(step.needs.map((id) => decisions.get(id)!))]);
      const needDigests = Object.fromEntries(needs.map((need) => [need.id, need.fingerprint.digest]));
      const fingerprint = computeFingerprint(own.inputs, needDigests);
      const reran = needs.find((need) => need.action === 'run')?.id;
      const reason = combine(own, fingerprint, reran);
      const action: StepAction = reason === 'satisfied' ? 'skip' : 'run';
      if (action === 'run' && step.destroys) {
        const description = await stepCall(graphId, step, 'destroys', () => step.destroys!(own.ctx));
        if (description) conflicts.set(step.id, { stepId: step.id, title: step.title, description });
      }
      return { step, id: step.id, title: step.title, needs: step.needs, action, reason, fingerprint, previous: own.previous };
    })();
    decisions.set(step.id, decision);
    return decision;
  };
  // `ordered` is topological, so every need's promise exists before its dependents ask for it.
  const planned = await settleAll(ordered.map(decideStep));
  return {
    graphId,
    steps: planned,
    conflicts: planned.flatMap((step) => conflicts.get(step.id) ?? []),
    store,
  };
}

/** Like Promise.all, but waits for every promise before rethrowing the first error (no check left running). */
async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** What a step's own checks found, before its needs are taken into account. */
interface OwnChecks {
  readonly ctx: PlanContext;
  readonly inputs: Record<string, string>;
  readonly previous: StepRecord | undefined;
  /** A reason to run that does not depend on the needs (never ran, failed, inputs changed…). */
  readonly ownReason: string | undefined;
  readonly before: Fingerprint | undefined;
  /** isSatisfied's answer, asked only when no own reason applies; an error surfaces only if the answer is used. */
  readonly satisfied: { value: Satisfaction } | { error: unknown } | undefined;
}

async function ownChecks(graphId: string, step: Step<unknown>, records: Map<string, StepRecord>, signal: AbortSignal): Promise<OwnChecks> {
  if (signal.aborted) throw new CancelledError(`planning ${graphId} was cancelled`);
  const ctx = planContext(graphId, step, records, signal);
  const previous = records.get(step.id);
  const inputs = await stepCall(graphId, step, 'inputs', () => step.inputs(ctx));
  const before = previous?.status === 'succeeded' ? parseFingerprint(previous.fingerprint) : undefined;
  const bare = statusReason(previous) ?? inputsReason(before, inputs);
  const plans = bare !== undefined && step.plans ? await stepCall(graphId, step, 'plans', () => step.plans!(ctx)) : undefined;
  const ownReason = plans ? `${bare} — ${plans}` : bare;
  const satisfied =
    ownReason === undefined
      ? await stepCall(graphId, step, 'isSatisfied', () => step.isSatisfied(ctx)).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        )
      : undefined;
  return { ctx, inputs, previous, ownReason, before, satisfied };
}

function statusReason(previous: StepRecord | undefined): string | undefined {
  if (!previous) return 'never ran';
  if (previous.status === 'running') return 'interrupted';
  if (previous.status === 'failed') return 'failed last time';
  if (previous.status === 'cancelled') return 'cancelled last time';
  return undefined;
}

function inputsReason(before: Fingerprint | undefined, inputs: Record<string, string>): string | undefined {
  if (!before) return undefined;
  const changed = changedInputs(before, computeFingerprint(inputs, {}));
  return changed.length > 0 ? `inputs changed: ${changed.join(', ')}` : undefined;
}

/** The reason, by precedence: own state and inputs, then needs, then the real-world check. */
function combine(own: OwnChecks, fingerprint: Fingerprint, reran: string | undefined): string {
  if (own.ownReason) return own.ownReason;
  if (reran) return `dependency re-ran: ${reran}`;
  const needs = changedNeeds(own.before!, fingerprint);
  if (needs.length > 0) return `dependency changed: ${needs.join(', ')}`;
  // Same names and digests but a different overall digest: an unreadable stored value.
  if (own.before!.digest !== fingerprint.digest) return 'inputs changed: fingerprint';
  if (!own.satisfied) return 'not satisfied';
  if ('error' in own.satisfied) throw own.satisfied.error;
  return satisfactionReason(own.satisfied.value);
}

function satisfactionReason(value: Satisfaction): string {
  if (value === true) return 'satisfied';
  if (value === false) return 'not satisfied';
  return value.reason ? `not satisfied: ${value.reason}` : 'not satisfied';
}

function planContext(graphId: string, step: Step<unknown>, records: Map<string, StepRecord>, signal: AbortSignal): PlanContext {
  const succeededOutputs = (id: string): unknown => {
    const record = records.get(id);
    return record?.status === 'succeeded' ? record.outputs : undefined;
  };
  return {
    graphId,
    stepId: step.id,
    signal,
    outputs: Object.fromEntries(step.needs.map((id) => [id, succeededOutputs(id)])),
    previousOutputs: succeededOutputs(step.id),
  };
}

/** Calls one of a step's planning functions, naming the step when it throws an untyped error. */
async function stepCall<T>(graphId: string, step: Step<unknown>, what: string, call: () => Promise<T> | T): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof BangerError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new InternalError('TASK_GRAPH_PLAN_FAILED', `planning ${graphId}: ${what}() of step "${step.id}" failed: ${message}`, {
      cause: error,
      hint: step.hint,
    });
  }
}
