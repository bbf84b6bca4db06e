import { GraphTimingsCollector, formatTimings, type StepEvent, type TimingPhase } from '@banger/taskgraph';
import type { CliContext } from '../../../context.js';

/** A `vm run` event: the graph's StepEvents, and notices the clock does not need. */
type RunEvent = StepEvent | { type: string };

const STEP_EVENT = /^(graph|step)-/;

/**
 * `vm run --timings`: where the wall time of one run went, from the process
 * start (Node's time origin: node and the CLI's own start count, as a user
 * waits through them) to the end. The graph's part comes from its events, the
 * rest from marks the run sets as it goes (the daemon call returned, the
 * command exited, `--rm` deleted the VM).
 */
export class RunClock {
  private readonly origin = Math.round(performance.timeOrigin);
  private readonly graph = new GraphTimingsCollector();
  private readonly marks: Array<{ name: string; at: number }> = [];

  event(event: RunEvent): void {
    if (STEP_EVENT.test(event.type)) this.graph.push(event as StepEvent);
  }

  mark(name: string): void {
    this.marks.push({ name, at: Date.now() });
  }

  /** The phases, in order; each ends where the next begins, so they add up to the wall time. */
  phases(now = Date.now()): { wallMs: number; phases: TimingPhase[] } {
    const graph = this.graph.result();
    const phases: TimingPhase[] = [];
    let last = this.origin;
    const until = (name: string, at: number | undefined, what: string) => {
      if (at === undefined || at < last) return;
      phases.push({ name, ms: at - last, what });
      last = at;
    };
    until('CLI start → graph planned', graph.plannedAt, 'node and the CLI starting, the daemon call, its checks, name and spec');
    until('the graph', graph.finishedAt, 'the steps below (independent ones overlap)');
    for (const { name, at } of this.marks) {
      const what = name === 'vm.run returned' ? 'the daemon\'s answer after its graph' : name === 'command exited' ? 'the command, through the agent or ssh' : name.startsWith('--rm') ? 'handing the VM to the daemon for removal (it stops and removes it after banger exits)' : '';
      until(name, at, what);
    }
    until('exit', now, '');
    return { wallMs: now - this.origin, phases };
  }

  /** Prints the table on stderr, or one `{"type":"timings",…}` NDJSON line on stdout with `--json`. */
  print(ctx: CliContext, json: boolean): void {
    const { wallMs, phases } = this.phases();
    const steps = this.graph.result().steps;
    if (json) {
      ctx.out(JSON.stringify({ type: 'timings', origin: this.origin, wallMs, phases, steps }));
      return;
    }
    ctx.err(formatTimings({ wallMs, origin: this.origin, phases, steps }));
  }
}
