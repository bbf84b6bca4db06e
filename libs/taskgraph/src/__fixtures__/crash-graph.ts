import type { Step, StepContext } from '../step.js';
import { fileStep } from './file-steps.js';

/** a → b → c, plus an independent d. `produceB` decides what "b" does. */
export function crashGraph(dir: string, produceB: (ctx: StepContext) => Promise<string>): Step<unknown>[] {
  return [
    fileStep({ id: 'a', dir }),
    fileStep({ id: 'd', dir }),
    fileStep({ id: 'b', dir, needs: ['a'], produce: produceB }),
    fileStep({ id: 'c', dir, needs: ['b'] }),
  ];
}
