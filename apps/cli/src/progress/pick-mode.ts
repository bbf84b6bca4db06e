/** How progress is shown: listr2 on a terminal, one line per event, or NDJSON events. */
export type ProgressMode = 'tty' | 'plain' | 'json';

/** Inputs of `pickProgressMode`, passed explicitly so the choice is testable. */
export interface PickProgressModeInput {
  /** `--json` was given. */
  json: boolean;
  /** Whether the output stream is a terminal (`process.stdout.isTTY`). */
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
}

/**
 * Chooses the renderer: `--json` wins; otherwise the live listr2 view only on
 * a real, capable terminal (not `TERM=dumb`, not `CI`), else plain lines.
 * Colour is off for json, when `NO_COLOR` is set to anything non-empty
 * (no-color.org), or on a dumb terminal; `FORCE_COLOR` turns it on for plain logs.
 */
export function pickProgressMode({ json, isTTY, env }: PickProgressModeInput): { mode: ProgressMode; color: boolean } {
  if (json) return { mode: 'json', color: false };
  const dumb = env.TERM === 'dumb';
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const forceColor = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const mode: ProgressMode = isTTY && !dumb && !env.CI ? 'tty' : 'plain';
  const color = !noColor && ((isTTY && !dumb) || forceColor);
  return { mode, color };
}
