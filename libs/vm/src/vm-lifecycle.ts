import { rm } from 'node:fs/promises';
import { formatSpecLine } from '@banger/config';
import { BangerError, CancelledError, ConflictError, UserError } from '@banger/errors';
import { serialized, testPausePoint } from '@banger/host';
import { unpinHostKey } from '@banger/ssh';
import { processAlive } from '@banger/hypervisor';
import { LeaseStore, removeTap, tapNameFor } from '@banger/network';
import { cancelledGraphEnd, isGraphRunning, SqliteStepStateStore, type Graph, type PlanSummary } from '@banger/taskgraph';
import type { VmGraphRunner, VmProgressEvent } from './graph-runner.js';
import { prepareCreate, type CreateVmParams } from './prepare-create.js';
import { driverFor, handleOf, knownHostsPath, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import { vmCreateGraph, vmGraphId } from './vm-graph.js';
import { vmInfo, type VmInfo } from './vm-info.js';
import type { VmRecord } from './vm-record.js';
import { discardSavedState } from './suspended-state.js';
import { removalKey } from './removal-turn.js';
import { refillSpares } from './disk-spare.js';

/** What a streamed VM operation needs from its caller. */
export interface VmCallIo {
  signal: AbortSignal;
  emit: (event: VmProgressEvent) => void;
  runGraph: VmGraphRunner;
}

/** The graph id `vm start` ran under before a VM had one graph; delete still forgets its step state. */
export const vmStartGraphId = (name: string): string => `vm-start:${name}`;

const notice = (io: VmCallIo, graphId: string, line: string): void => io.emit({ type: 'vm-notice', time: Date.now(), graphId, line });

/**
 * `vm create`: validates everything first (nothing is written for bad
 * input), records the VM as `creating`, prints the `spec:` line, and runs
 * the creation graph, leaving the VM running. For an existing VM with the
 * same inputs the graph skips what is done — a finished VM is a no-op, an
 * interrupted one resumes. A new VM whose creation fails with a user error
 * (exit 1: e.g. a disk smaller than a freshly pulled image) is rolled back
 * completely; other failures keep it for `vm logs` and a resuming create.
 */
export async function createVm(env: VmEnv, params: CreateVmParams & { explain?: boolean; stateDir?: string }, io: VmCallIo): Promise<{ vm?: VmInfo; plan?: PlanSummary }> {
  const prepared = await prepareCreate(env, params, { signal: io.signal, ...(params.stateDir ? { stateDir: params.stateDir } : {}) });
  const { record, isNew } = prepared;
  const graphId = vmGraphId(record.name);
  const steps = vmCreateGraph(env, record);
  if (params.explain) {
    const outcome = await io.runGraph({ graphId, steps, signal: io.signal, emit: io.emit, explain: true });
    return outcome.explained ? { plan: outcome.plan } : {};
  }
  const repo = vmRepository(env);
  if (isNew) repo.insert(record);
  notice(io, graphId, formatSpecLine(prepared.sizing));
  if (record.spec.hypervisor.warning) notice(io, graphId, `warning: ${record.spec.hypervisor.warning}`);
  env.log.info({ vm: record.name, id: record.id, resume: !isNew }, isNew ? 'creating vm' : 'vm create on an existing vm: resuming');
  try {
    await runVmGraph(io, record.name, steps, env.log);
  } catch (error) {
    await afterFailedCreate(env, record, isNew, error);
    throw error;
  }
  const done = repo.update(record.id, { state: 'running', stateReason: null });
  env.log.info({ vm: record.name, ip: done?.ip }, 'vm created');
  return { vm: vmInfo(done ?? record) };
}

/**
 * Runs a VM's graph (`vm:<name>`) under its lock. The engine refuses a step
 * that would destroy the VM's disks; the hint says how to start over instead.
 */
export async function runVmGraph(io: VmCallIo, name: string, steps: Graph, log: VmEnv['log']): Promise<void> {
  const graphId = vmGraphId(name);
  await io.runGraph({
    graphId,
    lockKey: graphId,
    steps,
    signal: io.signal,
    emit: io.emit,
    destructiveHint: `nothing was changed; to start over, banger vm delete ${name} and create it again`,
  });
  // The VM is up and nothing waits for the host: the spare disk copy for the next VM of this image is made now (disk-spare.ts).
  refillSpares(log);
}

/**
 * After a failed creation: a new VM that failed on bad input (a user error,
 * exit 1) is rolled back completely; otherwise it is kept, its state reason
 * saying what happened, for `vm logs` and a resuming create.
 */
export async function afterFailedCreate(env: VmEnv, record: VmRecord, isNew: boolean, error: unknown): Promise<void> {
  const repo = vmRepository(env);
  const userFault = error instanceof BangerError && error.exitCode === 1 && !(error instanceof CancelledError);
  if (isNew && userFault && !(error instanceof ConflictError && error.code === 'TASK_GRAPH_BUSY')) {
    env.log.info({ vm: record.name, err: error }, 'creation failed on bad input: rolling the vm back');
    await removeVm(env, repo.findById(record.id) ?? record, { force: true });
  } else if (repo.findById(record.id)) {
    const why = error instanceof CancelledError ? 'creation cancelled' : `creation failed: ${(error as Error).message}`;
    repo.update(record.id, { stateReason: why });
  }
}

/** Refuses lifecycle commands on a VM whose creation never finished. */
function assertCreated(vm: VmRecord): void {
  if (vm.state === 'creating') {
    throw new UserError('VM_NOT_CREATED', `vm ${vm.name} is not fully created${isGraphRunning(vmGraphId(vm.name)) ? ' (its creation is running)' : ''}`, {
      hint: `finish it with banger vm create --name ${vm.name}, or remove it with banger vm delete ${vm.name}`,
    });
  }
}

/**
 * `vm start`: runs the VM's graph again — everything up to the disks is
 * satisfied and skipped; the tap is ensured, the VM booted (a no-op when it
 * runs) and ssh waited for. With `explain`, only the plan.
 */
export async function startVm(env: VmEnv, name: string, io: VmCallIo, options: { explain?: boolean } = {}): Promise<{ vm?: VmInfo; plan?: PlanSummary }> {
  const repo = vmRepository(env);
  const vm = repo.get(name);
  assertCreated(vm);
  const graphId = vmGraphId(name);
  const steps = vmCreateGraph(env, vm);
  if (options.explain) {
    const outcome = await io.runGraph({ graphId, steps, signal: io.signal, emit: io.emit, explain: true });
    return outcome.explained ? { plan: outcome.plan } : {};
  }
  if (vm.spec.hypervisor.warning) notice(io, graphId, `warning: ${vm.spec.hypervisor.warning}`);
  await io.runGraph({ graphId, lockKey: graphId, steps, signal: io.signal, emit: io.emit });
  const started = repo.update(vm.id, { state: 'running', stateReason: null });
  env.log.info({ vm: name, pid: started?.pid }, 'vm started');
  return { vm: vmInfo(started ?? vm) };
}

/**
 * `vm stop`: a graceful shutdown (the guest gets the power button; after
 * `graceMs` the process is killed), or an immediate kill with `force`.
 * Stopping a stopped VM is a no-op.
 */
export async function stopVm(env: VmEnv, name: string, options: { force?: boolean; graceMs?: number; reason?: string } = {}): Promise<VmInfo> {
  const repo = vmRepository(env);
  const vm = repo.get(name);
  const handle = handleOf(env, vm);
  const reason = options.reason ?? `stopped by banger vm stop${options.force ? ' --force' : ''}`;
  if (handle && processAlive(handle.pid, handle.startTime)) {
    env.watcher.expectExit(vm.id, reason);
    await driverFor(vm.spec.hypervisor).stop(handle, { graceMs: options.force ? 0 : (options.graceMs ?? 30_000) });
    env.log.info({ vm: name, pid: handle.pid, force: options.force ?? false }, 'vm stopped');
  }
  env.watcher.forget(vm.id);
  // Stopping a suspended VM powers it off: its saved state is dropped, the next start boots cold.
  if (vm.state === 'suspended') discardSavedState(vmDirOf(env, name));
  const stopped = repo.update(vm.id, {
    state: vm.state === 'creating' ? 'creating' : 'stopped',
    pid: null,
    pidStartTime: null,
    ...(handle ? { stateReason: reason } : vm.state === 'suspended' ? { stateReason: `${reason}: the suspended state was dropped` } : {}),
  });
  return vmInfo(stopped ?? vm);
}

/** `vm restart`: stop (gracefully unless `force`), then start. */
export async function restartVm(env: VmEnv, name: string, options: { force?: boolean }, io: VmCallIo): Promise<VmInfo> {
  assertCreated(vmRepository(env).get(name));
  await stopVm(env, name, { ...options, reason: 'restarted by banger vm restart' });
  const { vm } = await startVm(env, name, io);
  return vm ?? vmInfo(vmRepository(env).get(name));
}

/**
 * `vm delete`: stops the VM (gracefully, or killed with `force`), then
 * removes its tap, lease, pinned host key, step state, directory and record.
 * Safe to repeat after a crash half-way: the record goes last.
 */
export async function deleteVm(env: VmEnv, name: string, options: { force?: boolean } = {}): Promise<{ name: string; removed: string[] }> {
  // Two deletes of one VM (or a delete and a `run --rm` cleanup) take turns: the
  // second finds the record gone and says so, instead of tearing down half-removed parts.
  return serialized(removalKey(env, name), async () => {
    await cancelledRunsEnded([vmGraphId(name), vmStartGraphId(name)]);
    const vm = vmRepository(env).get(name);
    if (isGraphRunning(vmGraphId(name)) || isGraphRunning(vmStartGraphId(name))) {
      throw new ConflictError('VM_BUSY', `vm ${name} is being created or started right now`, { hint: 'cancel that command (Ctrl-C) or wait for it, then delete' });
    }
    return removeVmNow(env, vm, options);
  });
}

/**
 * `vm delete --background` (what `vm run --rm` sends once the command's exit
 * status is known): the VM is marked `deleting` — from then on it is gone for
 * `vm list`, `vm show`, completion and a new VM of the same name (which waits
 * for the removal: `nameFreed`) — and the answer goes back at once; the
 * stop and the removal of its tap, lease, files and record go on in the
 * daemon. A daemon killed meanwhile finishes it at its next start
 * (`reconcileVms`). The same refusals as `deleteVm` (a create or start of
 * the VM still running).
 */
export async function deleteVmInBackground(env: VmEnv, name: string): Promise<{ name: string; removed: string[]; background: true }> {
  await cancelledRunsEnded([vmGraphId(name), vmStartGraphId(name)]);
  const vm = vmRepository(env).get(name);
  if (isGraphRunning(vmGraphId(name)) || isGraphRunning(vmStartGraphId(name))) {
    throw new ConflictError('VM_BUSY', `vm ${name} is being created or started right now`, { hint: 'cancel that command (Ctrl-C) or wait for it, then delete' });
  }
  vmRepository(env).update(vm.id, { state: 'deleting', stateReason: 'being deleted (vm run --rm)' });
  finishRemoval(env, vm);
  return { name, removed: [], background: true };
}

/** Removes a VM marked `deleting`, in turn with other removals of it; a failure is logged and left for the next daemon start. */
export function finishRemoval(env: VmEnv, vm: VmRecord): Promise<void> {
  // Queued at once (removeVm takes its turn synchronously), so a new VM of this name waits for it (nameFreed).
  const removal = removeVm(env, vm, { force: true }, () => testPausePoint('vm.delete:background'));
  const done = removal.then(
    () => undefined,
    (error: unknown) => env.log.warn({ vm: vm.name, err: error }, 'could not finish removing a deleted vm; the next daemon start retries'),
  );
  pendingRemovals.add(done);
  void done.finally(() => pendingRemovals.delete(done));
  return done;
}

const pendingRemovals = new Set<Promise<void>>();

/** Resolves when every background removal has ended (the daemon's shutdown waits for them). */
export async function backgroundRemovalsEnded(): Promise<void> {
  await Promise.all([...pendingRemovals]);
}

/**
 * Removes `vm` and all it holds, in turn with any other removal of the same
 * VM; nothing to do when another removal finished first.
 */
export async function removeVm(env: VmEnv, vm: VmRecord, options: { force?: boolean }, before?: () => Promise<void>): Promise<{ name: string; removed: string[] }> {
  return serialized(removalKey(env, vm.name), async () => {
    await before?.();
    const current = vmRepository(env).findById(vm.id);
    return current ? removeVmNow(env, current, options) : { name: vm.name, removed: [] };
  });
}

/** How long a delete waits for a cancelled create or start of the same VM to unwind (its steps stop at their next check). */
const CANCELLED_RUN_WAIT_MS = 60_000;

/** Waits (bounded) for the runs of these graphs that were cancelled, so that a delete right after a Ctrl-C or a killed CLI is not refused. */
async function cancelledRunsEnded(graphIds: readonly string[]): Promise<void> {
  const ends = graphIds.map((id) => cancelledGraphEnd(id)).filter((end): end is Promise<void> => end !== undefined);
  if (ends.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(ends), new Promise<void>((resolve) => (timer = setTimeout(resolve, CANCELLED_RUN_WAIT_MS)))]);
  clearTimeout(timer);
}

async function removeVmNow(env: VmEnv, vm: VmRecord, options: { force?: boolean }): Promise<{ name: string; removed: string[] }> {
  const removed: string[] = [];
  const handle = handleOf(env, vm);
  if (handle && processAlive(handle.pid, handle.startTime)) {
    env.watcher.expectExit(vm.id, 'deleted');
    await driverFor(vm.spec.hypervisor).stop(handle, { graceMs: options.force ? 0 : 30_000 });
    removed.push(`${vm.spec.hypervisor.kind} process ${handle.pid}`);
  }
  env.watcher.forget(vm.id);
  await testPausePoint('vm.delete:stopped');
  const tap = vm.tap ?? tapNameFor(vm.id);
  if ((await removeTap(tap)).changed) removed.push(`tap ${tap}`);
  if (new LeaseStore(env.db).release(vm.id) > 0) removed.push(`lease ${vm.ip ?? ''}`.trim());
  await unpinHostKey(knownHostsPath(env), [`${vm.name}.vm`, ...(vm.ip ? [vm.ip] : [])]);
  const store = new SqliteStepStateStore(env.db);
  store.forget(vmGraphId(vm.name));
  store.forget(vmStartGraphId(vm.name));
  const dir = vmDirOf(env, vm.name);
  await rm(dir.root, { recursive: true, force: true });
  removed.push(`dir ${dir.root}`);
  await testPausePoint('vm.delete:files');
  vmRepository(env).remove(vm.id);
  env.log.info({ vm: vm.name, removed }, 'vm deleted');
  return { name: vm.name, removed };
}
