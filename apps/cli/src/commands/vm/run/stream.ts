import type { MethodName, ParamsOf, ResultOf } from '@banger/api';
import type { StepEvent } from '@banger/taskgraph';
import type { CliContext } from '../../../context.js';
import { createProgressRenderer, pickProgressMode } from '../../../progress/index.js';

/** The streamed methods `vm run` calls: VM lifecycle (notices + graph events) and the workspace sync (graph events). */
export type RunStreamedMethod = Extract<MethodName, 'vm.create' | 'vm.start' | 'workspace.sync'>;

/**
 * Calls one streamed method for `vm run`, rendering like every long command
 * (listr2 or plain lines on stderr; with `json`, NDJSON on stdout, each event
 * and then `{"type":"result",…}`). `vm-notice` lines (the `spec:` line) are
 * printed as they arrive. `tap` sees every event first: `vm run` learns the
 * name of a VM being created from its graph id, to clean up after a failure.
 */
export async function runStreamed<M extends RunStreamedMethod>(
  ctx: CliContext,
  method: M,
  params: ParamsOf<M>,
  options: { json: boolean; tap?: (event: { type: string; graphId?: string; stepId?: string }) => void; signal?: AbortSignal },
): Promise<ResultOf<M>> {
  const { client } = await ctx.daemon();
  const out = (options.json ? ctx.io.stdout : ctx.io.stderr) as NodeJS.WritableStream & { isTTY?: boolean };
  const { mode, color } = pickProgressMode({ json: options.json, isTTY: Boolean(out.isTTY), env: ctx.env });
  const renderer = createProgressRenderer({ mode, color, out });
  const onEvent = (event: { type: string; graphId?: string; stepId?: string; line?: string }): void => {
    options.tap?.(event);
    if (event.type !== 'vm-notice') return renderer.push(event as StepEvent);
    out.write(options.json ? `${JSON.stringify(event)}\n` : `${event.line ?? ''}\n`);
  };
  try {
    const result = await client.call(method, params, { signal: options.signal ?? ctx.signal, onEvent: onEvent as never });
    await renderer.done();
    if (options.json) ctx.out(JSON.stringify({ type: 'result', method, result }));
    return result;
  } catch (error) {
    await renderer.done();
    throw error;
  }
}
