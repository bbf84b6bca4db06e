import { createJsonRenderer } from './json-renderer.js';
import type { ProgressMode } from './pick-mode.js';
import { createPlainRenderer } from './plain-renderer.js';
import type { ProgressRenderer } from './renderer.js';

/** Options of `createProgressRenderer`; `pickProgressMode()` gives `mode` and `color`. */
export interface ProgressRendererOptions {
  mode: ProgressMode;
  color: boolean;
  /** Where to write; stdout by default. */
  out?: NodeJS.WritableStream;
}

/**
 * The renderer for a mode: `tty` (listr2), `plain` (a line per event) or `json` (NDJSON events).
 * listr2 is imported only for `tty`: loading it (and the crypto, streams and colours it pulls in)
 * would cost every CLI start, and most commands stream nothing.
 */
export async function createProgressRenderer({ mode, color, out = process.stdout }: ProgressRendererOptions): Promise<ProgressRenderer> {
  switch (mode) {
    case 'json':
      return createJsonRenderer(out);
    case 'plain':
      return createPlainRenderer(out, color);
    case 'tty': {
      const { createTtyRenderer } = await import('./tty-renderer.js');
      return createTtyRenderer(out, color);
    }
  }
}
