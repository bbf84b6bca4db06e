import type { StepRecord } from './state-store.js';

/**
 * What a step's `inputs`, `isSatisfied` and `destroys` functions see. These
 * run during planning, so they MUST NOT change anything: they read files,
 * stat paths, ask whether a process is alive.
 */
export interface PlanContext {
  /** The graph instance this step belongs to, e.g. `vm:sandbox`. */
  readonly graphId: string;
  readonly stepId: string;
  /** Aborts when the caller cancels (planning can stat slow disks, probe ssh…). */
  readonly signal: AbortSignal;
  /**
   * Outputs of the needed steps. At plan time these are the outputs recorded by
   * their last successful run (undefined when they never succeeded); when the
   * step is about to run they are the outputs of this run.
   */
  readonly outputs: Readonly<Record<string, unknown>>;
  /** This step's own outputs from its last successful run (e.g. the pid it started). */
  readonly previousOutputs: unknown;
}

/** One log method with pino's call shape: `log.info({ vm }, 'booting')` or `log.info('booting')`. */
export type StepLogFn = (fieldsOrMessage: Record<string, unknown> | string, message?: string) => void;

/** A logger with pino's call shape, so the daemon can pass a pino child logger as is. */
export interface StepLogger {
  debug: StepLogFn;
  info: StepLogFn;
  warn: StepLogFn;
  error: StepLogFn;
}

/** What `run` gets: the plan context plus cancellation-safe write helpers. */
export interface StepContext extends PlanContext {
  /**
   * The output of a needed step, typed by the caller. Throws when `id` is not
   * in this step's `needs` (a wiring bug, not a user error).
   */
  need<T = unknown>(id: string): T;
  /**
   * A temp path beside `finalPath` (same directory, so the rename is atomic).
   * The engine deletes it if the step fails, is cancelled, or never commits it;
   * stale temp files of `finalPath` left by a killed process are removed here.
   */
  tempPath(finalPath: string): string;
  /** Renames a temp path from `tempPath()` onto its final path (atomic on one filesystem). */
  commit(tempPath: string, finalPath: string): Promise<void>;
  /**
   * Writes `finalPath` atomically: `content` (or what `write(tmp)` produces at
   * the temp path) appears under the final name only when complete.
   */
  atomicWrite(finalPath: string, content: string | Uint8Array | ((tempPath: string) => Promise<void>)): Promise<void>;
  readonly log: StepLogger;
}

/**
 * How a running step reports progress. Structurally a `ProgressSink` from
 * `@banger/host` (it has `line` and `bytes`), so library code that takes a
 * sink can be handed the report directly.
 */
export interface StepReport {
  /** One human-readable line (a tool's output line, "extracting vmlinux"). */
  line(text: string): void;
  /** Items done, and the total when known (rendered as `done/total`). */
  progress(done: number, total?: number): void;
  /** Bytes done, and the total when known (rendered as a bar with rate and ETA). */
  bytes(done: number, total?: number): void;
}

/** The answer of `isSatisfied`: a boolean, or "not satisfied" with what is missing. */
export type Satisfaction = boolean | { satisfied: false; reason: string };

/**
 * One unit of work of a task graph: data plus functions, no engine state.
 * The engine skips a step whose last run succeeded with the same fingerprint
 * and whose `isSatisfied` still holds; otherwise it runs it.
 */
export interface Step<O = unknown> {
  /** Stable dotted id, unique in its graph: `vm.fetch-kernel`. Persisted, so never rename casually. */
  readonly id: string;
  /** What the user sees: "Fetch kernel". */
  readonly title: string;
  /** Ids of the steps whose results this one uses. */
  readonly needs: readonly string[];
  /**
   * Named input fingerprints: content hashes, the relevant config values.
   * Changing any of them re-runs the step (and the plan names which).
   * The fingerprints of needed steps are mixed in by the engine.
   */
  inputs(ctx: PlanContext): Promise<Record<string, string>> | Record<string, string>;
  /** Checks the real world: the file exists and its hash matches, the process is alive. */
  isSatisfied(ctx: PlanContext): Promise<Satisfaction> | Satisfaction;
  /** Does the work. Resolves to JSON-serialisable outputs that dependents read via `ctx.need(id)`. */
  run(ctx: StepContext, report: StepReport): Promise<O>;
  /** Shown when the step fails and its error carries no hint of its own. */
  readonly hint?: string;
  /**
   * What running this step would do, when the reason alone does not say it
   * (a new VM's step `never ran`, yet whether its warm template is built or
   * reused is the news). Only asked for steps the plan will run for a reason
   * of their own (never ran, interrupted, failed, inputs changed); appended
   * to that reason after ` — `.
   */
  plans?(ctx: PlanContext): Promise<string | undefined> | string | undefined;
  /**
   * When running this step would destroy user data, a one-line description
   * ("recreates the disk of vm sandbox"); undefined when it would not. Only
   * asked for steps the plan will run. The engine refuses such a plan unless
   * the caller passes `allowDestructive`.
   */
  destroys?(ctx: PlanContext): Promise<string | undefined> | string | undefined;
}

/** A task graph: its steps in any order. Validated by `plan()`. */
export type Graph = readonly Step<any>[];

/** Re-exported for step authors who read their own history. */
export type { StepRecord };
