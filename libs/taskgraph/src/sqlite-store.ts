import type { WireError } from '@banger/errors';
import { StepStateTable, type Database } from '@banger/store';
import type { StepRecord, StepStateStore } from './state-store.js';

/**
 * `StepStateStore` over the `step_state` table of banger's database
 * (`StepStateTable` of `@banger/store`, which holds the SQL). Pass the handle
 * from `openDatabase()`. Statements are prepared once; each write is its own
 * implicit transaction, so it is on disk (WAL) before the step's work begins
 * or its result is reported.
 */
export class SqliteStepStateStore implements StepStateStore {
  private readonly table: StepStateTable;

  constructor(db: Database) {
    this.table = new StepStateTable(db);
  }

  load(graphId: string): Map<string, StepRecord> {
    const records = new Map<string, StepRecord>();
    for (const row of this.table.ofGraph(graphId)) {
      records.set(row.step_id, {
        graphId: row.graph_id,
        stepId: row.step_id,
        fingerprint: row.fingerprint,
        status: row.status,
        startedAt: row.started_at ?? undefined,
        finishedAt: row.finished_at ?? undefined,
        durationMs: row.duration_ms ?? undefined,
        error: row.error === null ? undefined : (JSON.parse(row.error) as WireError),
        outputs: row.outputs === null ? undefined : JSON.parse(row.outputs),
      });
    }
    return records;
  }

  markRunning(graphId: string, stepId: string, fingerprint: string, startedAt: number): void {
    this.table.markRunning(graphId, stepId, fingerprint, startedAt);
  }

  markSucceeded(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; outputs: unknown }): void {
    this.table.markSucceeded(graphId, stepId, result.finishedAt, Math.round(result.durationMs), JSON.stringify(result.outputs ?? null));
  }

  markFailed(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; error: WireError }): void {
    this.table.markFailed(graphId, stepId, result.finishedAt, Math.round(result.durationMs), JSON.stringify(result.error));
  }

  markCancelled(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number }): void {
    this.table.markCancelled(graphId, stepId, result.finishedAt, Math.round(result.durationMs));
  }

  forget(graphId: string): void {
    this.table.removeGraph(graphId);
  }
}
