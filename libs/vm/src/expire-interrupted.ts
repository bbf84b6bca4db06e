import { isGraphRunning } from '@banger/taskgraph';
import { removeVm } from './vm-lifecycle.js';
import { vmRepository, type VmEnv } from './vm-env.js';
import { vmGraphId } from './vm-graph.js';

/** How long an interrupted creation waits for a resuming `vm run` when `interrupted_create_expiry` is not set. */
export const INTERRUPTED_CREATE_EXPIRY_MS = 60 * 60_000;
/** How often the daemon looks for expired creations (or every expiry, when that is shorter). */
export const EXPIRY_SWEEP_MS = 5 * 60_000;

/**
 * Deletes the VMs whose creation was interrupted (`creating`, no creation of
 * them running in this daemon) and untouched for longer than `expiryMs`:
 * their QEMU (if one was left), tap, lease, pinned host key, step state,
 * directory and row, as `vm delete --force` does. A creation that never
 * finished holds no user data; until it expires the next `vm run --name` of
 * it resumes it. Returns the names deleted; a failure is logged and the VM
 * kept for the next sweep.
 */
export async function expireInterruptedCreations(env: VmEnv, options: { expiryMs?: number; now?: number } = {}): Promise<string[]> {
  const expiryMs = options.expiryMs ?? env.config.interruptedCreateExpiryMs ?? INTERRUPTED_CREATE_EXPIRY_MS;
  const now = options.now ?? Date.now();
  const deleted: string[] = [];
  for (const vm of vmRepository(env).list()) {
    if (vm.state !== 'creating' || isGraphRunning(vmGraphId(vm.name)) || now - vm.updatedAt < expiryMs) continue;
    try {
      await removeVm(env, vm, { force: true });
      deleted.push(vm.name);
    } catch (error) {
      env.log.warn({ vm: vm.name, err: error }, 'could not delete an expired interrupted creation');
    }
  }
  if (deleted.length > 0) env.log.info({ deleted, expiryMs }, 'deleted interrupted creations nobody resumed');
  return deleted;
}
