import type { StepEvent } from '@banger/taskgraph';

/**
 * Shows a stream of task-graph events. `push` every event in arrival order
 * (several graphs may follow each other); `done()` resolves once everything
 * pushed is on screen, and must be awaited before the CLI prints anything else.
 */
export interface ProgressRenderer {
  push(event: StepEvent): void;
  done(): Promise<void>;
}
