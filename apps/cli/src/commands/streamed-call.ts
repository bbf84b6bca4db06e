import type { EventOf, MethodName, ParamsOf, PlanSummaryWire, ResultOf } from '@banger/api';
import { formatPlan, type StepEvent, type StepEventType } from '@banger/taskgraph';
import type { CliContext } from '../context.js';
import { createProgressRenderer, pickProgressMode } from '../progress/index.js';
import { toJson } from '../output/format.js';

/**
 * Daemon methods that stream task-graph events (possibly alongside other
 * events, such as the VM methods' `vm-notice` lines). Methods that declare no
 * event stream (`unknown`) are excluded.
 */
export type StreamedMethod = {
  [M in MethodName]: unknown extends EventOf<M> ? never : StepEvent extends EventOf<M> ? M : never;
}[MethodName];

/** Flags every long command takes. */
export interface StreamedCallFlags {
  /** NDJSON events, then one `{"type":"result",…}` line (or the plan as JSON with --explain). */
  json?: boolean;
  /**
   * Print the plan with the reason for every step; change nothing. Only for
   * methods whose params take `explain` (the type refuses it for others, since
   * the daemon would strip the unknown key and run the graph for real).
   */
  explain?: boolean;
}

/** The flags a method accepts: `explain` only where its params declare it. */
export type StreamedCallFlagsOf<M extends StreamedMethod> = 'explain' extends keyof ParamsOf<M>
  ? StreamedCallFlags
  : Omit<StreamedCallFlags, 'explain'> & { explain?: false };

/** Less common needs of a streamed call. */
export interface StreamedCallOptions<M extends StreamedMethod> {
  /** Sees every event, before it is rendered. */
  tap?: (event: EventOf<M>) => void;
  /** Cancels the call instead of `ctx.signal` (e.g. `ctx.signal` combined with a deadline). */
  signal?: AbortSignal;
  /**
   * Add `"method"` to the `--json` result line: for commands whose NDJSON
   * output carries more than the call's own lines (`vm run`: the `vm.run`
   * result, then the command's output and exit), so the result says which
   * call it ends.
   */
  resultWithMethod?: boolean;
}

/** Every StepEvent `type`; a Record so the compiler flags a type added to the schema but not here. */
const STEP_EVENT_TYPES: Record<StepEventType, true> = {
  'graph-planned': true,
  'step-started': true,
  'step-output': true,
  'step-progress': true,
  'step-skipped': true,
  'step-succeeded': true,
  'step-failed': true,
  'step-blocked': true,
  'step-cancelled': true,
  'graph-finished': true,
};

function isStepEvent(event: unknown): event is StepEvent {
  const type = (event as { type?: unknown } | null)?.type;
  return typeof type === 'string' && Object.hasOwn(STEP_EVENT_TYPES, type);
}

/** The human text of an event that is not a StepEvent (`vm-notice` carries `line`), if it has one. */
function noticeText(event: unknown): string | undefined {
  const { line, message } = (event ?? {}) as { line?: unknown; message?: unknown };
  if (typeof line === 'string') return line;
  if (typeof message === 'string') return message;
  return undefined;
}

/**
 * Calls a streamed daemon method the way every long command does — the one
 * helper for kernel/image pulls and builds, `vm create/start/restart` and
 * `vm run`:
 *
 * - `--explain`: asks the daemon for the plan only and prints it
 *   (`formatPlan`, or JSON with `--json`); nothing changes, nothing renders;
 * - otherwise starts the progress renderer (`pickProgressMode`: NDJSON on
 *   stdout with `--json`; else on stderr, listr2 when stderr is a capable
 *   TTY, plain lines otherwise; NO_COLOR honoured), so stdout holds only the
 *   command's result line, and pushes every StepEvent into it;
 * - any other event (the VM methods' `vm-notice`: the `spec:` line, a TCG
 *   warning) is printed as its `line` (or `message`) on the progress stream
 *   in human mode, and passed through as an NDJSON line with `--json`;
 * - waits for the renderer to finish drawing before returning or throwing,
 *   so the caller's summary line comes after the progress;
 * - passes `ctx.signal` (or `options.signal`), so Ctrl-C sends a cancel and
 *   the daemon aborts the graph (its steps remove their partial output); the
 *   call then rejects with CancelledError (exit 130).
 *
 * Returns the method's result; with `--explain` its `plan` is set and the
 * caller should print nothing else. With `--json` the result has already been
 * printed as the last NDJSON line, `{"type":"result","result":…}`.
 */
export async function streamedCall<M extends StreamedMethod>(
  ctx: CliContext,
  method: M,
  params: Omit<ParamsOf<M>, 'explain'>,
  flags: StreamedCallFlagsOf<M>,
  options: StreamedCallOptions<M> = {},
): Promise<ResultOf<M>> {
  const { client } = await ctx.daemon();
  const signal = options.signal ?? ctx.signal;
  const json = Boolean(flags.json);
  if (flags.explain) {
    const result = await client.call(method, { ...params, explain: true } as ParamsOf<M>, { signal });
    const plan = (result as { plan?: PlanSummaryWire }).plan;
    if (plan) ctx.out(json ? toJson(plan) : formatPlan(plan));
    return result;
  }
  // Human progress goes to stderr so stdout keeps only the result; NDJSON goes to stdout.
  const out = (json ? ctx.io.stdout : ctx.io.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  const { mode, color } = pickProgressMode({ json, isTTY: Boolean(out.isTTY), env: ctx.env });
  const renderer = await createProgressRenderer({ mode, color, out });
  const onEvent = (event: EventOf<M>): void => {
    options.tap?.(event);
    if (isStepEvent(event)) return renderer.push(event);
    if (json) {
      out.write(`${JSON.stringify(event)}\n`);
      return;
    }
    const text = noticeText(event);
    if (text !== undefined) out.write(`${text}\n`);
  };
  try {
    const result = await client.call(method, params as ParamsOf<M>, { signal, onEvent });
    await renderer.done();
    if (json) ctx.out(JSON.stringify(options.resultWithMethod ? { type: 'result', method, result } : { type: 'result', result }));
    return result;
  } catch (error) {
    await renderer.done();
    throw error;
  }
}
