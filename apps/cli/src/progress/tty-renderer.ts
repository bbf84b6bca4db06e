import { InternalError } from '@banger/errors';
import { formatDuration } from '@banger/host';
import type { StepEvent, StepEventOf } from '@banger/taskgraph';
import { Listr, ListrLogger, ProcessOutput, color as listrColor, type ListrTaskWrapper } from 'listr2';
import { formatProgress, type ProgressSample } from './format.js';
import type { ProgressRenderer } from './renderer.js';

type Outcome = { kind: 'ok'; durationMs: number } | { kind: 'skip'; message: string } | { kind: 'fail'; message: string };

/** One planned step as the live view tracks it. */
interface TaskView {
  readonly title: string;
  readonly settle: (outcome: Outcome) => void;
  readonly outcome: Promise<Outcome>;
  settled: boolean;
  /** Set once listr2 calls the task; until then updates are kept in `output`. */
  wrapper?: ListrTaskWrapper<unknown, any, any>;
  output: string;
  sample?: ProgressSample;
}

/**
 * The live terminal view: listr2's default renderer (spinners, per-step
 * timing, last output line or a byte progress bar with rate and ETA). The
 * graph arrives as events, so each `graph-planned` builds a concurrent Listr
 * whose tasks wait on a per-step promise that later events settle; steps not
 * started yet show "waiting for <needs>". Successive graphs render one after
 * the other. Colour follows listr2's own detection, which honours NO_COLOR.
 * listr2's SIGINT listener is off: Ctrl-C belongs to the CLI, which cancels
 * the graph in the daemon and keeps rendering the resulting events.
 */
export function createTtyRenderer(out: NodeJS.WritableStream, color: boolean): ProgressRenderer {
  const dim = (text: string) => (color ? listrColor.dim(text) : text);
  const stream = out as NodeJS.WriteStream;
  let chain: Promise<void> = Promise.resolve();
  let views = new Map<string, TaskView>();

  const setOutput = (view: TaskView, text: string) => {
    view.output = text;
    if (view.wrapper) view.wrapper.output = text;
  };
  const settle = (stepId: string, outcome: Outcome) => {
    const view = views.get(stepId);
    if (!view || view.settled) return;
    view.settled = true;
    view.settle(outcome);
  };
  const settleRest = (message: string) => {
    for (const [id, view] of views) if (!view.settled) settle(id, { kind: 'skip', message: `${view.title} — ${message}` });
  };

  const plan = (event: StepEventOf<'graph-planned'>) => {
    settleRest('not reported');
    const current = new Map<string, TaskView>();
    for (const step of event.steps) {
      let resolve!: (outcome: Outcome) => void;
      const outcome = new Promise<Outcome>((r) => (resolve = r));
      const waiting = step.needs.length > 0 ? `waiting for ${step.needs.join(', ')}` : 'waiting';
      current.set(step.id, { title: step.title, settle: resolve, outcome, settled: false, output: step.action === 'run' ? waiting : '' });
    }
    views = current;
    const list = new Listr(
      event.steps.map((step) => ({
        title: step.title,
        task: async (_ctx: unknown, task: ListrTaskWrapper<unknown, any, any>) => {
          const view = current.get(step.id)!;
          view.wrapper = task;
          if (view.output) task.output = view.output;
          const result = await view.outcome;
          if (result.kind === 'skip') task.skip(result.message);
          else if (result.kind === 'fail') throw new InternalError('STEP_FAILED', result.message);
          else task.title = `${step.title} ${dim(formatDuration(result.durationMs))}`;
        },
      })),
      {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false,
        fallbackRendererCondition: false,
        renderer: 'default',
        rendererOptions: {
          collapseErrors: false,
          formatOutput: 'truncate',
          removeEmptyLines: true,
          // Same as listr2's own default logger, but writing to `out`.
          logger: new ListrLogger({ useIcons: true, toStderr: [], processOutput: new ProcessOutput(stream, stream) }),
        },
      },
    );
    // A failed step is already on screen; the CLI reports the graph's error itself.
    chain = chain.then(() => list.run().then(() => undefined, () => undefined));
  };

  return {
    push(event: StepEvent) {
      switch (event.type) {
        case 'graph-planned':
          plan(event);
          break;
        case 'step-started': {
          const view = views.get(event.stepId);
          if (view) setOutput(view, '');
          break;
        }
        case 'step-output': {
          const view = views.get(event.stepId);
          if (view && !view.sample) setOutput(view, event.line);
          break;
        }
        case 'step-progress': {
          const view = views.get(event.stepId);
          if (!view) break;
          view.sample = {
            done: event.done,
            total: event.total,
            unit: event.unit,
            time: event.time,
            firstTime: view.sample?.firstTime ?? event.time,
            firstDone: view.sample?.firstDone ?? event.done,
          };
          setOutput(view, formatProgress(view.sample));
          break;
        }
        case 'step-skipped':
          settle(event.stepId, { kind: 'skip', message: `${titleOf(event.stepId)} — ${event.reason}` });
          break;
        case 'step-succeeded':
          settle(event.stepId, { kind: 'ok', durationMs: event.durationMs });
          break;
        case 'step-failed':
          settle(event.stepId, { kind: 'fail', message: `${event.error.message}${event.hint ? ` (hint: ${event.hint})` : ''}` });
          break;
        case 'step-blocked':
          settle(event.stepId, { kind: 'skip', message: `${titleOf(event.stepId)} — blocked by ${event.by}` });
          break;
        case 'step-cancelled':
          settle(event.stepId, { kind: 'skip', message: `${titleOf(event.stepId)} — cancelled` });
          break;
        case 'graph-finished':
          settleRest(event.ok ? 'not reported' : 'stopped');
          break;
      }
    },
    async done() {
      settleRest('stopped');
      await chain;
    },
  };

  function titleOf(stepId: string): string {
    return views.get(stepId)?.title ?? stepId;
  }
}
