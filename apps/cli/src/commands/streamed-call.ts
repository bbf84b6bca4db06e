import type { EventOf, MethodName, ParamsOf, PlanSummaryWire, ResultOf } from '@banger/api';
import { formatPlan, type StepEvent } from '@banger/taskgraph';
import type { CliContext } from '../context.js';
import { createProgressRenderer, pickProgressMode } from '../progress/index.js';
import { toJson } from '../output/format.js';

/** Daemon methods that run a task graph: they stream StepEvents and accept `explain`. */
export type GraphMethod = {
  [M in MethodName]: EventOf<M> extends StepEvent ? (ParamsOf<M> extends { explain?: boolean } ? M : never) : never;
}[MethodName];

/** Flags every long command takes. */
export interface StreamedCallFlags {
  /** NDJSON events, then one `{"type":"result",…}` line (or the plan as JSON with --explain). */
  json?: boolean;
  /** Print the plan with the reason for every step; change nothing. */
  explain?: boolean;
}

/**
 * Calls a task-graph method of the daemon the way every long command does:
 *
 * - `--explain`: asks the daemon for the plan only and prints it
 *   (`formatPlan`, or JSON with `--json`); nothing changes, nothing renders;
 * - otherwise starts the progress renderer (`pickProgressMode`: NDJSON on
 *   stdout with `--json`; else on stderr, listr2 when stderr is a capable
 *   TTY, plain lines otherwise; NO_COLOR honoured), so stdout holds only the
 *   command's result line,
 *   pushes every streamed event into it, and waits for it to finish drawing
 *   before returning, so the caller's summary line comes after the progress;
 * - passes `ctx.signal`, so Ctrl-C sends a cancel and the daemon aborts the
 *   graph (its steps remove their partial output); the call then rejects
 *   with CancelledError (exit 130).
 *
 * Returns the method's result; with `--explain` its `plan` is set and the
 * caller should print nothing else. With `--json` the result has already been
 * printed as the last NDJSON line.
 */
export async function streamedCall<M extends GraphMethod>(
  ctx: CliContext,
  method: M,
  params: Omit<ParamsOf<M>, 'explain'>,
  flags: StreamedCallFlags,
): Promise<ResultOf<M>> {
  const { client } = await ctx.daemon();
  if (flags.explain) {
    const result = await client.call(method, { ...params, explain: true } as ParamsOf<M>, { signal: ctx.signal });
    const plan = (result as { plan?: PlanSummaryWire }).plan;
    if (plan) ctx.out(flags.json ? toJson(plan) : formatPlan(plan));
    return result;
  }
  // Human progress goes to stderr so stdout keeps only the result (like callWithProgress); NDJSON goes to stdout.
  const out = (flags.json ? ctx.io.stdout : ctx.io.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  const { mode, color } = pickProgressMode({ json: Boolean(flags.json), isTTY: Boolean(out.isTTY), env: ctx.env });
  const renderer = createProgressRenderer({ mode, color, out });
  try {
    const result = await client.call(method, params as ParamsOf<M>, {
      signal: ctx.signal,
      onEvent: (event) => renderer.push(event as StepEvent),
    });
    await renderer.done();
    if (flags.json) ctx.out(JSON.stringify({ type: 'result', result }));
    return result;
  } catch (error) {
    await renderer.done();
    throw error;
  }
}
