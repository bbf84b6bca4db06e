import { InternalError } from '@banger/errors';
import type { Graph, Step } from './step.js';

const ID = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*$/;

/**
 * Checks a graph (unique well-formed ids, known needs, no cycles) and returns
 * its steps in a topological order that keeps the given order where it can,
 * so plans and renderings list steps the way the graph author wrote them.
 * Throws `InternalError` (code `TASK_GRAPH_INVALID`): a bad graph is a bug in
 * banger, not something the user can fix.
 */
export function orderGraph(graph: Graph, graphId: string): Step<unknown>[] {
  const byId = new Map<string, Step<unknown>>();
  for (const step of graph) {
    if (!ID.test(step.id)) throw invalid(graphId, `step id "${step.id}" is not a dotted lower-case id like "vm.fetch-kernel"`);
    if (byId.has(step.id)) throw invalid(graphId, `step id "${step.id}" is used twice`);
    byId.set(step.id, step);
  }
  for (const step of graph) {
    for (const need of step.needs) {
      if (!byId.has(need)) throw invalid(graphId, `step "${step.id}" needs unknown step "${need}"`);
      if (need === step.id) throw invalid(graphId, `step "${step.id}" needs itself`);
    }
  }

  const ordered: Step<unknown>[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (step: Step<unknown>, path: string[]): void => {
    const seen = state.get(step.id);
    if (seen === 'done') return;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(step.id)), step.id];
      throw invalid(graphId, `steps form a cycle: ${cycle.join(' → ')}`);
    }
    state.set(step.id, 'visiting');
    for (const need of step.needs) visit(byId.get(need)!, [...path, step.id]);
    state.set(step.id, 'done');
    ordered.push(step);
  };
  for (const step of graph) visit(step, []);
  return ordered;
}

function invalid(graphId: string, why: string): InternalError {
  return new InternalError('TASK_GRAPH_INVALID', `task graph ${graphId}: ${why}`, {
    hint: 'this is a bug in banger; please report it with the command you ran',
  });
}
