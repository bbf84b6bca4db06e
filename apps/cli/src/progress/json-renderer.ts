import type { StepEvent } from '@banger/taskgraph';
import type { ProgressRenderer } from './renderer.js';

/** `--json`: every event exactly as received, one JSON object per line (NDJSON). */
export function createJsonRenderer(out: NodeJS.WritableStream): ProgressRenderer {
  return {
    push(event: StepEvent) {
      out.write(`${JSON.stringify(event)}\n`);
    },
    async done() {},
  };
}
