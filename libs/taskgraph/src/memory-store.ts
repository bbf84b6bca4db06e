import type { StepRecord, StepStateStore } from './state-store.js';

/** A `StepStateStore` in memory, for tests and one-shot graphs that need no resume. */
export class MemoryStepStateStore implements StepStateStore {
  private readonly graphs = new Map<string, Map<string, StepRecord>>();

  load(graphId: string): Map<string, StepRecord> {
    return new Map(this.graphs.get(graphId));
  }

  markRunning(graphId: string, stepId: string, fingerprint: string, startedAt: number): void {
    this.put({ graphId, stepId, fingerprint, status: 'running', startedAt });
  }

  markSucceeded(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number; outputs: unknown }): void {
    // Outputs go through JSON like in SQLite, so tests see the same values.
    this.update(graphId, stepId, { status: 'succeeded', ...result, outputs: JSON.parse(JSON.stringify(result.outputs ?? null)) });
  }

  markFailed(graphId: string, stepId: string, result: Pick<StepRecord, 'finishedAt' | 'durationMs' | 'error'>): void {
    this.update(graphId, stepId, { status: 'failed', ...result });
  }

  markCancelled(graphId: string, stepId: string, result: { finishedAt: number; durationMs: number }): void {
    this.update(graphId, stepId, { status: 'cancelled', ...result });
  }

  forget(graphId: string): void {
    this.graphs.delete(graphId);
  }

  private put(record: StepRecord): void {
    let graph = this.graphs.get(record.graphId);
    if (!graph) this.graphs.set(record.graphId, (graph = new Map()));
    graph.set(record.stepId, record);
  }

  private update(graphId: string, stepId: string, patch: Partial<StepRecord>): void {
    const current = this.graphs.get(graphId)?.get(stepId);
    if (current) this.put({ ...current, ...patch });
  }
}
