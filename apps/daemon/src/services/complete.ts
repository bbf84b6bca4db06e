import type { NameKind } from '@banger/api';
import type { Service } from '../service.js';

const queries: Record<Exclude<NameKind, 'session'>, string> = {
  vm: 'SELECT name FROM vms ORDER BY name',
  image: 'SELECT name FROM images ORDER BY name',
  kernel: 'SELECT name FROM kernels ORDER BY name',
};

/** `complete.names`: live resource names for shell completion, straight from SQLite. */
export const completeService: Service = (ctx, server) => {
  const statements = Object.fromEntries(Object.entries(queries).map(([kind, sql]) => [kind, ctx.db.prepare(sql).pluck()]));
  server.handle('complete.names', ({ kind }) => {
    // Sessions do not exist yet (a later issue adds them).
    if (kind === 'session') return [];
    return statements[kind]!.all() as string[];
  });
};
