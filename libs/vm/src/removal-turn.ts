import { serialized } from '@banger/host';
import { vmDirOf, vmRepository, type VmEnv } from './vm-env.js';

/** The queue every removal of one VM takes its turn in (two deletes, a delete and `vm run --rm`'s background removal). */
export const removalKey = (env: VmEnv, name: string): string => `vm-remove:${vmDirOf(env, name).root}`;

/**
 * Waits until no removal of a VM called `name` is running or queued, when a
 * record of that name is being removed in the background (`deleting`): a new
 * VM of the same name (`vm run --rm --name x` twice in a row) then finds the
 * name free instead of colliding with the old record, directory or tap.
 */
export async function nameFreed(env: VmEnv, name: string): Promise<void> {
  const repo = vmRepository(env);
  if (!repo.nameTaken(name) || repo.find(name)) return;
  await serialized(removalKey(env, name), async () => undefined);
}
