import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { ConflictError, UserError } from '@banger/errors';
import { serialized } from '@banger/host';
import { isSuspendCapable, processAlive, savedStateFiles } from '@banger/hypervisor';
import { isGraphRunning } from '@banger/taskgraph';
import { readBootedWith, savedState, writeSuspendMeta } from './suspended-state.js';
import { driverFor, handleOf, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import { vmGraphId } from './vm-graph.js';
import { vmInfo, type VmInfo } from './vm-info.js';

/**
 * `vm suspend`: freezes a running VM into its directory (RAM and device
 * state, `suspend.state`) and ends the hypervisor; the tap, the lease and the
 * disks stay. `vm resume` (or `vm start`, or `vm run --name`) continues it
 * with its processes, sessions and open files as they were. Suspending a
 * suspended VM is a no-op. The record says `suspended` only once the state
 * file is whole; a suspend that fails leaves the VM running.
 */
export async function suspendVm(env: VmEnv, name: string): Promise<VmInfo> {
  return serialized(`vm-suspend:${vmDirOf(env, name).root}`, async () => {
    const repo = vmRepository(env);
    const vm = repo.get(name);
    const dir = vmDirOf(env, name);
    if (vm.state === 'suspended' && savedState(dir)) return vmInfo(vm);
    if (isGraphRunning(vmGraphId(name))) {
      throw new ConflictError('VM_BUSY', `vm ${name} is being created or started right now`, { hint: 'wait for that command, then suspend' });
    }
    const handle = handleOf(env, vm);
    if (vm.state !== 'running' || !handle || !processAlive(handle.pid, handle.startTime)) {
      throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (${vm.state}): there is nothing to suspend`, { hint: `start it with banger vm start ${name}` });
    }
    const driver = driverFor(vm.spec.hypervisor);
    if (!isSuspendCapable(driver)) {
      throw new UserError('VM_SUSPEND_UNSUPPORTED', `vm ${name} runs under ${vm.spec.hypervisor.kind}, which banger cannot suspend yet`, { hint: `stop it instead: banger vm stop ${name}` });
    }
    const partial = `${dir.suspendState}.partial`;
    const removePartial = () => Promise.all(savedStateFiles(partial).map((path) => rm(path, { force: true })));
    await removePartial();
    await writeSuspendMeta(dir, { format: 1, suspendedAt: new Date().toISOString(), bootedWith: readBootedWith(dir) });
    // The exit that follows is ours: not a crash for the watcher to record.
    env.watcher.forget(vm.id);
    const started = Date.now();
    try {
      await driver.suspend(handle, partial);
    } catch (error) {
      await removePartial();
      if (processAlive(handle.pid, handle.startTime)) env.watcher.watch(vm.id, vm.name, vm.spec.hypervisor, handle);
      throw error;
    }
    // Companions (Firecracker's memory file) first, the state file last: its name marks a whole saved state.
    const [partialState, ...partialCompanions] = savedStateFiles(partial);
    const [finalState, ...finalCompanions] = savedStateFiles(dir.suspendState);
    for (const [index, path] of partialCompanions.entries()) {
      if (existsSync(path)) await rename(path, finalCompanions[index]!);
      else await rm(finalCompanions[index]!, { force: true });
    }
    await rename(partialState!, finalState!);
    const saved = savedState(dir);
    const reason = `suspended by banger vm suspend (${((saved?.bytes ?? 0) / 2 ** 20).toFixed(0)} MiB saved in ${((Date.now() - started) / 1000).toFixed(1)} s)`;
    const updated = repo.update(vm.id, { state: 'suspended', stateReason: reason, pid: null, pidStartTime: null });
    env.log.info({ vm: name, bytes: saved?.bytes }, 'vm suspended');
    return vmInfo(updated ?? vm);
  });
}
