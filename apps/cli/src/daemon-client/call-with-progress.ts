import type { MethodName, ParamsOf, ResultOf } from '@banger/api';
import type { StepEvent } from '@banger/taskgraph';
import type { CliContext } from '../context.js';
import { createProgressRenderer, pickProgressMode } from '../progress/index.js';

/**
 * Calls a long-running daemon method and renders the task-graph events it
 * streams. Progress goes to stderr (listr2 on a terminal, plain lines
 * otherwise) so stdout stays for the result; with `json` the events go to
 * stdout as NDJSON, ahead of whatever JSON the command prints last. Ctrl-C
 * cancels the call on the daemon (ctx.signal). The renderer is always
 * flushed before this returns or throws.
 */
export async function callWithProgress<M extends MethodName>(
  ctx: CliContext,
  method: M,
  params: ParamsOf<M>,
  options: { json?: boolean } = {},
): Promise<ResultOf<M>> {
  const json = options.json ?? false;
  const out = json ? ctx.io.stdout : ctx.io.stderr;
  const { mode, color } = pickProgressMode({ json, isTTY: Boolean((out as { isTTY?: boolean }).isTTY), env: ctx.env });
  const renderer = createProgressRenderer({ mode, color, out });
  try {
    const { client } = await ctx.daemon();
    return await client.call(method, params, { signal: ctx.signal, onEvent: (event) => renderer.push(event as StepEvent) });
  } finally {
    await renderer.done();
  }
}
