import type { WireError } from '@banger/errors';

/** Lifecycle of one step in one graph instance, as persisted. */
export type StepStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** The persisted state of one step of one graph instance (one `step_state` row). */
export interface StepRecord {
  readonly graphId: string;
  readonly stepId: string;
  /** The serialised `Fingerprint` of the attempt (see fingerprint.ts). */
  readonly fingerprint: string;
  readonly status: StepStatus;
  readonly startedAt?: number | undefined;
  readonly finishedAt?: number | undefined;
  readonly durationMs?: number | undefined;
  /** Set when failed. */
  readonly error?: WireError | undefined;
  /** Set when succeeded: what `run` resolved to. */
  readonly outputs?: unknown;
}

/**
 * Where step state lives between runs (and across a daemon kill -9). Writes
 * are synchronous and durable on return, so a crash after `markRunning`
 * leaves a 'running' row the next plan reports as `interrupted`.
 */
export interface StepStateStore {
  /** Every recorded step of a graph instance, by step id. */
  load(graphId: string): Map<string, StepRecord>;
  /** Records the start of an attempt, replacing the previous record of the step. */
  markRunning(graphId: string, stepId: string, fingerprint: string, startedAt: number): void;
  markSucceeded(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; outputs: unknown }): void;
  markFailed(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; error: WireError }): void;
  markCancelled(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number }): void;
  /** Drops all state of a graph instance (e.g. when its VM is deleted). */
  forget(graphId: string): void;
}
