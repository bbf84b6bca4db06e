import type { MethodName, ParamsOf, ResultOf, VmProgressEventWire } from '@banger/api';
import type { StepEvent } from '@banger/taskgraph';
import type { CliContext } from '../../context.js';
import { createProgressRenderer, pickProgressMode } from '../../progress/index.js';

/** The VM methods that stream progress (notices + task-graph events). */
export type VmStreamedMethod = Extract<MethodName, 'vm.create' | 'vm.start' | 'vm.restart'>;

/**
 * Calls a streaming VM method like streamedCall does for other graphs
 * (progress on stderr — listr2 on a terminal, plain lines otherwise — or
 * NDJSON events on stdout with `--json`; Ctrl-C cancels in the daemon), and
 * also shows the `vm-notice` lines (the `spec:` line, a TCG warning) as
 * they arrive, before the steps. Returns the method's result.
 */
export async function vmStreamedCall<M extends VmStreamedMethod>(ctx: CliContext, method: M, params: ParamsOf<M>, flags: { json?: boolean }): Promise<ResultOf<M>> {
  const { client } = await ctx.daemon();
  const out = (flags.json ? ctx.io.stdout : ctx.io.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  const { mode, color } = pickProgressMode({ json: Boolean(flags.json), isTTY: Boolean(out.isTTY), env: ctx.env });
  const renderer = createProgressRenderer({ mode, color, out });
  const onEvent = (event: VmProgressEventWire): void => {
    if (event.type !== 'vm-notice') return renderer.push(event as StepEvent);
    out.write(flags.json ? `${JSON.stringify(event)}\n` : `${event.line}\n`);
  };
  try {
    const result = await client.call(method, params, { signal: ctx.signal, onEvent: onEvent as never });
    await renderer.done();
    if (flags.json) ctx.out(JSON.stringify({ type: 'result', result }));
    return result;
  } catch (error) {
    await renderer.done();
    throw error;
  }
}
