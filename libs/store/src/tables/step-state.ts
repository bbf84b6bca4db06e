import type { Database } from '../open-database.js';

/** `step_state.status`: the lifecycle of one step in one graph instance. */
export type StepStateStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One row of the `step_state` table. */
export interface StepStateRow {
  graph_id: string;
  step_id: string;
  fingerprint: string;
  status: StepStateStatus;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  /** JSON: the WireError of a failed attempt. */
  error: string | null;
  /** JSON: what a succeeded attempt resolved to. */
  outputs: string | null;
}

/**
 * The `step_state` table: the one place its SQL lives (`SqliteStepStateStore`
 * of `@banger/taskgraph` maps it to step records). Statements are prepared
 * once, in the constructor; each write is its own implicit transaction, so it
 * is on disk (WAL) when the call returns.
 */
export class StepStateTable {
  private readonly select;
  private readonly running;
  private readonly succeeded;
  private readonly failed;
  private readonly cancelled;
  private readonly deleteGraph;

  constructor(db: Database) {
    this.select = db.prepare<[string], StepStateRow>('SELECT * FROM step_state WHERE graph_id = ?');
    this.running = db.prepare<[string, string, string, number]>(
      `INSERT INTO step_state (graph_id, step_id, fingerprint, status, started_at, finished_at, duration_ms, error, outputs)
       VALUES (?, ?, ?, 'running', ?, NULL, NULL, NULL, NULL)
       ON CONFLICT (graph_id, step_id) DO UPDATE SET fingerprint = excluded.fingerprint, status = 'running',
         started_at = excluded.started_at, finished_at = NULL, duration_ms = NULL, error = NULL, outputs = NULL`,
    );
    this.succeeded = db.prepare<[number, number, string, string, string]>(
      `UPDATE step_state SET status = 'succeeded', finished_at = ?, duration_ms = ?, outputs = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.failed = db.prepare<[number, number, string, string, string]>(
      `UPDATE step_state SET status = 'failed', finished_at = ?, duration_ms = ?, error = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.cancelled = db.prepare<[number, number, string, string]>(
      `UPDATE step_state SET status = 'cancelled', finished_at = ?, duration_ms = ? WHERE graph_id = ? AND step_id = ?`,
    );
    this.deleteGraph = db.prepare<[string]>('DELETE FROM step_state WHERE graph_id = ?');
  }

  /** Every row of one graph instance. */
  ofGraph(graphId: string): StepStateRow[] {
    return this.select.all(graphId);
  }

  /** Starts an attempt: replaces the step's row with a 'running' one. */
  markRunning(graphId: string, stepId: string, fingerprint: string, startedAt: number): void {
    this.running.run(graphId, stepId, fingerprint, startedAt);
  }

  /** `outputs` is JSON. */
  markSucceeded(graphId: string, stepId: string, finishedAt: number, durationMs: number, outputs: string): void {
    this.succeeded.run(finishedAt, durationMs, outputs, graphId, stepId);
  }

  /** `error` is JSON. */
  markFailed(graphId: string, stepId: string, finishedAt: number, durationMs: number, error: string): void {
    this.failed.run(finishedAt, durationMs, error, graphId, stepId);
  }

  markCancelled(graphId: string, stepId: string, finishedAt: number, durationMs: number): void {
    this.cancelled.run(finishedAt, durationMs, graphId, stepId);
  }

  /** Deletes every row of one graph instance. */
  removeGraph(graphId: string): void {
    this.deleteGraph.run(graphId);
  }
}
