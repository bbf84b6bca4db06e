import { createJsonRenderer } from './json-renderer.js';
import type { ProgressMode } from './pick-mode.js';
import { createPlainRenderer } from './plain-renderer.js';
import type { ProgressRenderer } from './renderer.js';
import { createTtyRenderer } from './tty-renderer.js';

/** Options of `createProgressRenderer`; `pickProgressMode()` gives `mode` and `color`. */
export interface ProgressRendererOptions {
  mode: ProgressMode;
  color: boolean;
  /** Where to write; stdout by default. */
  out?: NodeJS.WritableStream;
}

/** The renderer for a mode: `tty` (listr2), `plain` (a line per event) or `json` (NDJSON events). */
export function createProgressRenderer({ mode, color, out = process.stdout }: ProgressRendererOptions): ProgressRenderer {
  switch (mode) {
    case 'json':
      return createJsonRenderer(out);
    case 'plain':
      return createPlainRenderer(out, color);
    case 'tty':
      return createTtyRenderer(out, color);
  }
}
