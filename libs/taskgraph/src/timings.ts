import type { StepEvent } from './events.js';

/** Where one step of a graph run spent its time, as its events tell it. */
export interface StepTiming {
  id: string;
  title: string;
  /** What the step did; `planned` when the run ended before it got an outcome. */
  outcome: 'ran' | 'skipped' | 'failed' | 'blocked' | 'cancelled' | 'planned';
  /** Epoch ms of `step-started` (or of the skip/block/cancel event: those do not start). */
  startedAt?: number;
  /** `step-succeeded`'s duration; for a failed step, started → failed. */
  durationMs?: number;
  /** The skip reason, or the step's last output line. */
  note?: string;
}

/** A graph run's timing, from its events: planned/finished times and every planned step. */
export interface GraphTimings {
  plannedAt?: number;
  finishedAt?: number;
  /** `graph-finished`'s durationMs. */
  durationMs?: number;
  steps: StepTiming[];
}

/**
 * Collects the timing of graph runs from their `StepEvent`s as they stream
 * (the CLI's `vm run --timings`, the benchmarks): nothing but the events, so
 * it sees what the user's progress saw. Event times are the daemon's clock,
 * which on one host is the CLI's `Date.now()` too.
 */
export class GraphTimingsCollector {
  private readonly timings: GraphTimings = { steps: [] };
  private readonly byId = new Map<string, StepTiming>();

  push(event: StepEvent): void {
    switch (event.type) {
      case 'graph-planned':
        this.timings.plannedAt ??= event.time;
        for (const step of event.steps) this.step(step.id, step.title);
        return;
      case 'graph-finished':
        this.timings.finishedAt = event.time;
        this.timings.durationMs = (this.timings.durationMs ?? 0) + event.durationMs;
        return;
      case 'step-started':
        Object.assign(this.step(event.stepId), { outcome: 'ran', startedAt: event.time });
        return;
      case 'step-output':
        this.step(event.stepId).note = event.line;
        return;
      case 'step-succeeded':
        this.step(event.stepId).durationMs = event.durationMs;
        return;
      case 'step-skipped':
        Object.assign(this.step(event.stepId), { outcome: 'skipped', startedAt: event.time, note: event.reason });
        return;
      case 'step-failed': {
        const step = this.step(event.stepId);
        Object.assign(step, { outcome: 'failed', note: event.error.message, ...(step.startedAt !== undefined ? { durationMs: event.time - step.startedAt } : {}) });
        return;
      }
      case 'step-blocked':
        Object.assign(this.step(event.stepId), { outcome: 'blocked', startedAt: event.time, note: `blocked by ${event.by}` });
        return;
      case 'step-cancelled':
        Object.assign(this.step(event.stepId), { outcome: 'cancelled', startedAt: event.time });
        return;
      case 'step-progress':
        return;
    }
  }

  result(): GraphTimings {
    return { ...this.timings, steps: [...this.timings.steps] };
  }

  private step(id: string, title = id): StepTiming {
    let step = this.byId.get(id);
    if (!step) {
      step = { id, title, outcome: 'planned' };
      this.byId.set(id, step);
      this.timings.steps.push(step);
    }
    return step;
  }
}

/** One row of the phase table: a stretch of the command's wall time. */
export interface TimingPhase {
  name: string;
  ms: number;
  what?: string;
}

const ms = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

/**
 * The `--timings` text: the phases of the command (each with its share of
 * the wall time), then the graph's steps in the order they started, with
 * their start offset from `origin` (so overlapping steps show) and duration.
 *
 *     where the time went (wall 41.2 s)
 *       phase                          time   share
 *       CLI start → graph planned    310 ms      1 %
 *       ...
 *       step              starts at   duration
 *       vm.boot              1.2 s      3.1 s
 */
export function formatTimings(input: { wallMs: number; origin: number; phases: readonly TimingPhase[]; steps: readonly StepTiming[] }): string {
  const { wallMs, origin } = input;
  const share = (n: number) => (wallMs > 0 ? `${Math.round((100 * n) / wallMs)} %` : '-');
  const phaseRows = input.phases.map((p) => [p.name, ms(p.ms), share(p.ms), p.what ?? '']);
  const ordered = [...input.steps].sort((a, b) => (a.startedAt ?? Infinity) - (b.startedAt ?? Infinity));
  const stepRows = ordered.map((s) => [
    s.id,
    s.startedAt !== undefined ? ms(Math.max(0, s.startedAt - origin)) : '-',
    s.outcome === 'ran' || s.outcome === 'failed' ? (s.durationMs !== undefined ? ms(s.durationMs) : '-') : s.outcome,
    (s.outcome === 'ran' ? '' : s.outcome === 'failed' ? 'failed: ' : '') + (s.note ?? '').replace(/\s+/g, ' ').slice(0, 72),
  ]);
  return [`where the time went (wall ${ms(wallMs)})`, ...table(['phase', 'time', 'share', 'what'], phaseRows, [false, true, true, false]), ...table(['step', 'starts at', 'duration', 'note'], stepRows, [false, true, true, false])].join('\n');
}

/** Aligned columns, indented two spaces; `right[i]` right-aligns column i. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `  ${r.map((cell, i) => (i === r.length - 1 ? cell : right[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return all.map(line);
}
