import { ImagesTable, KernelsTable } from '@banger/store';
import { vmRepository } from '@banger/vm';
import type { Service } from '../service.js';

/** `complete.names`: live resource names for shell completion, straight from the tables. */
export const completeService: Service = (ctx, server) => {
  const names = {
    vm: () => vmRepository(ctx).names(),
    image: () => new ImagesTable(ctx.db).names(),
    kernel: () => new KernelsTable(ctx.db).names(),
  };
  server.handle('complete.names', ({ kind }) => {
    // Sessions do not exist yet (a later issue adds them).
    if (kind === 'session') return [];
    return names[kind]();
  });
};
