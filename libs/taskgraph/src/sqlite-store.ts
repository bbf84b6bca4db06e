import type { WireError } from '@banger/errors';
import type { Database } from 'better-sqlite3';
import type { StepRecord, StepStateStore, StepStatus } from './state-store.js';

interface Row {
  graph_id: string;
  step_id: string;
  fingerprint: string;
  status: StepStatus;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  error: string | null;
  outputs: string | null;
}

/**
 * `StepStateStore` over the `step_state` table of banger's database (store
 * migration 002). Pass the handle from `openDatabase()` of `@banger/store`.
 * Statements are prepared once; each write is its own implicit transaction,
 * so it is on disk (WAL) before the step's work begins or its result is reported.
 */
export class SqliteStepStateStore implements StepStateStore {
  private readonly select;
  private readonly running;
  private readonly succeeded;
  private readonly failed;
  private readonly cancelled;
  private readonly deleteGraph;

  constructor(db: Database) {
    this.select = db.prepare<[string], Row>('SELECT * FROM step_state WHERE graph_id = ?');
    this.running = db.prepare(
      `INSERT INTO step_state (graph_id, step_id, fingerprint, status, started_at, finished_at, duration_ms, error, outputs)
       VALUES (?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL)
       ON CONFLICT (graph_id, step_id) DO UPDATE SET fingerprint = excluded.fingerprint, status = 'running',
         started_at = excluded.started_at, finished_at = NULL, duration_ms = NULL, error = NULL, outputs = NULL`,
    );
    this.succeeded = db.prepare(
      `UPDATE step_state SET status = 'succeeded', finished_at = ?, duration_ms = ?, outputs = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.failed = db.prepare(
      `UPDATE step_state SET status = 'failed', finished_at = ?, duration_ms = ?, error = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.cancelled = db.prepare(
      `UPDATE step_state SET status = 'cancelled', finished_at = ?, duration_ms = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.deleteGraph = db.prepare('DELETE FROM step_state WHERE graph_id = ?');
  }

  load(graphId: string): Map<string, StepRecord> {
    const records = new Map<string, StepRecord>();
    for (const row of this.select.all(graphId)) {
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
    this.running.run(graphId, stepId, fingerprint, startedAt);
  }

  markSucceeded(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; outputs: unknown }): void {
    this.succeeded.run(result.finishedAt, Math.round(result.durationMs), JSON.stringify(result.outputs ?? null), graphId, stepId);
  }

  markFailed(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; error: WireError }): void {
    this.failed.run(result.finishedAt, Math.round(result.durationMs), JSON.stringify(result.error), graphId, stepId);
  }

  markCancelled(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number }): void {
    this.cancelled.run(result.finishedAt, Math.round(result.durationMs), graphId, stepId);
  }

  forget(graphId: string): void {
    this.deleteGraph.run(graphId);
  }
}
