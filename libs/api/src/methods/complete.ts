import * as z from 'zod';
import { lazySchema } from '@banger/taskgraph';
import { defineMethod } from '../method.js';

/** The resource kinds shell completion can list. */
export const nameKindSchema = lazySchema(() => z.enum(['vm', 'image', 'kernel', 'session']));
export type NameKind = z.infer<typeof nameKindSchema>;

/** Live names for shell completion; must answer fast and never do work. */
export const completeMethods = {
  'complete.names': defineMethod(() => ({
    description: 'Lists the names of one kind of resource, sorted, for shell completion.',
    params: z.object({ kind: nameKindSchema, /** For `session`: the VM whose sessions are listed. */ vm: z.string().min(1).max(200).optional() }),
    result: z.array(z.string()),
  })),
};
