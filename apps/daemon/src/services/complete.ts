import { ImagesTable, KernelsTable } from '@banger/store';
import { sessionNamesForCompletion, vmRepository } from '@banger/vm';
import { agentLinksOf } from './vm/agent-links-of.js';
import type { Service } from '../service.js';

/** `complete.names`: live resource names for shell completion, straight from the tables. */
export const completeService: Service = (ctx, server) => {
  const names = {
    vm: () => vmRepository(ctx).names(),
    image: () => new ImagesTable(ctx.db).names(),
    kernel: () => new KernelsTable(ctx.db).names(),
  };
  server.handle('complete.names', ({ kind, vm }) => {
    // A VM's sessions live in its guest: asked of its agent, within completion's budget (nothing when it does not answer).
    if (kind === 'session') return vm === undefined ? [] : sessionNamesForCompletion({ db: ctx.db, paths: ctx.paths, agent: { links: agentLinksOf(ctx) } }, vm);
    return names[kind]();
  });
};
