import type { Plan } from './plan.js';

/**
 * The JSON-safe part of a plan, e.g. for the daemon to send `--explain`
 * results to the CLI. A `Plan` is one already.
 */
export interface PlanSummary {
  readonly graphId: string;
  readonly steps: readonly { readonly id: string; readonly title: string; readonly needs: readonly string[]; readonly action: 'run' | 'skip'; readonly reason: string }[];
  readonly conflicts: readonly { readonly stepId: string; readonly title: string; readonly description: string }[];
}

/** Strips a plan down to its `PlanSummary` (plain JSON: no step functions, no store). */
export function summarizePlan(plan: Plan): PlanSummary {
  return {
    graphId: plan.graphId,
    steps: plan.steps.map(({ id, title, needs, action, reason }) => ({ id, title, needs: [...needs], action, reason })),
    conflicts: plan.conflicts.map(({ stepId, title, description }) => ({ stepId, title, description })),
  };
}

/**
 * The `--explain` text of a plan: a header, one line per step in run order
 * (`run `/`skip`, id, title, reason) and the destructive conflicts, if any.
 *
 *     plan for vm:sandbox: 2 to run, 1 to skip
 *       skip  vm.fetch-kernel  Fetch kernel  satisfied
 *       run   vm.boot          Boot the VM   inputs changed: memory
 */
export function formatPlan(plan: PlanSummary): string {
  const toRun = plan.steps.filter((s) => s.action === 'run').length;
  const lines = [`plan for ${plan.graphId}: ${toRun} to run, ${plan.steps.length - toRun} to skip`];
  const idWidth = Math.max(0, ...plan.steps.map((s) => s.id.length));
  const titleWidth = Math.max(0, ...plan.steps.map((s) => s.title.length));
  for (const step of plan.steps) {
    lines.push(`  ${step.action.padEnd(4)}  ${step.id.padEnd(idWidth)}  ${step.title.padEnd(titleWidth)}  ${step.reason}`);
  }
  if (plan.conflicts.length > 0) {
    lines.push('destroys data (refused unless explicitly allowed):');
    for (const conflict of plan.conflicts) lines.push(`  ${conflict.stepId}: ${conflict.description}`);
  }
  return lines.join('\n');
}
