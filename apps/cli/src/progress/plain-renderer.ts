import type { StepEvent } from '@banger/taskgraph';
import { formatDuration } from '@banger/host';
import { formatProgress, type ProgressSample } from './format.js';
import type { ProgressRenderer } from './renderer.js';

const ansi = (code: string) => (text: string) => `\u001b[${code}m${text}\u001b[0m`;
const styles = { red: ansi('31'), green: ansi('32'), yellow: ansi('33'), dim: ansi('2') };
const plainStyles = { red: (t: string) => t, green: (t: string) => t, yellow: (t: string) => t, dim: (t: string) => t };

/** Without a total, how often (event time, ms) an unchanged step prints its progress. */
const UNKNOWN_TOTAL_EVERY_MS = 5000;

/**
 * One stable, greppable line per event for CI logs and pipes:
 *
 *     [vm:sandbox] plan: 2 to run, 1 to skip
 *     [vm.fetch-image] skipped (satisfied)
 *     [vm.boot] started
 *     [vm.boot] | a line the step printed
 *     [vm.fetch-kernel] 10.0 MiB / 40.0 MiB (25%)
 *     [vm.boot] ok 4.2s
 *     [vm.boot] FAILED: qemu exited with status 1 (hint: …)
 *     [vm.wait-ssh] blocked by vm.boot
 *     [vm:sandbox] FAILED at vm.boot after 5.0s
 *
 * Progress prints at each quarter of the total (or every 5 s without one),
 * so logs stay short.
 */
export function createPlainRenderer(out: NodeJS.WritableStream, color: boolean): ProgressRenderer {
  const s = color ? styles : plainStyles;
  const progress = new Map<string, ProgressSample & { printedQuarter: number; printedAt: number }>();
  const write = (line: string) => out.write(`${line}\n`);

  const onProgress = (event: Extract<StepEvent, { type: 'step-progress' }>) => {
    const previous = progress.get(event.stepId);
    const sample = {
      done: event.done,
      total: event.total,
      unit: event.unit,
      time: event.time,
      firstTime: previous?.firstTime ?? event.time,
      firstDone: previous?.firstDone ?? event.done,
      printedQuarter: previous?.printedQuarter ?? 0,
      printedAt: previous?.printedAt ?? Number.NEGATIVE_INFINITY,
    };
    progress.set(event.stepId, sample);
    if (event.total) {
      const quarter = Math.floor((Math.min(event.done, event.total) / event.total) * 4);
      if (quarter <= sample.printedQuarter) return;
      sample.printedQuarter = quarter;
      const amounts = formatProgress(sample, 0);
      write(`[${event.stepId}] ${amounts} (${quarter * 25}%)`);
    } else if (event.time - sample.printedAt >= UNKNOWN_TOTAL_EVERY_MS) {
      sample.printedAt = event.time;
      write(`[${event.stepId}] ${formatProgress(sample, 0)}`);
    }
  };

  return {
    push(event) {
      switch (event.type) {
        case 'graph-planned': {
          const toRun = event.steps.filter((step) => step.action === 'run').length;
          write(`[${event.graphId}] plan: ${toRun} to run, ${event.steps.length - toRun} to skip`);
          break;
        }
        case 'step-started':
          write(`[${event.stepId}] started`);
          break;
        case 'step-output':
          write(`[${event.stepId}] | ${event.line}`);
          break;
        case 'step-progress':
          onProgress(event);
          break;
        case 'step-skipped':
          write(s.dim(`[${event.stepId}] skipped (${event.reason})`));
          break;
        case 'step-succeeded':
          write(`[${event.stepId}] ${s.green('ok')} ${formatDuration(event.durationMs)}`);
          break;
        case 'step-failed':
          write(`[${event.stepId}] ${s.red('FAILED')}: ${event.error.message}${event.hint ? ` (hint: ${event.hint})` : ''}`);
          break;
        case 'step-blocked':
          write(s.yellow(`[${event.stepId}] blocked by ${event.by}`));
          break;
        case 'step-cancelled':
          write(s.yellow(`[${event.stepId}] cancelled`));
          break;
        case 'graph-finished': {
          const after = formatDuration(event.durationMs);
          if (event.ok) write(`[${event.graphId}] ${s.green('done')} in ${after}`);
          else if (event.failedStep) write(`[${event.graphId}] ${s.red('FAILED')} at ${event.failedStep} after ${after}`);
          else write(`[${event.graphId}] ${s.yellow('cancelled')} after ${after}`);
          break;
        }
      }
    },
    async done() {},
  };
}
