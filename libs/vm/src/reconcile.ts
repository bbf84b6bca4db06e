import { processAlive } from '@banger/hypervisor';
import { listTaps, removeTap, tapNameFor, tapOwnerKey } from '@banger/network';
import { IpLeasesTable } from '@banger/store';
import { handleOf, vmRepository, type VmEnv } from './vm-env.js';
import { cleanStaleTemplateBuilds } from './warm/warm-housekeeping.js';
import { finishRemoval } from './vm-lifecycle.js';

/** What `reconcileVms` found and did, for the daemon log. */
export interface ReconcileReport {
  /** VMs whose hypervisor still runs (same pid and start time): watched again. */
  adopted: string[];
  /** VMs whose hypervisor died while no daemon watched: marked stopped. */
  stopped: string[];
  /** VMs `vm run --rm` had handed over for removal when the daemon died: removed now. */
  removed: string[];
  /** Leases whose VM no longer exists: released. */
  releasedLeases: number;
  /** Taps aliased as this home's (`banger:<key>`) that no VM owns: removed. */
  removedTaps: string[];
  /** `bgr-…` taps with no banger owner alias and no VM here: left alone (maybe another home's), logged. */
  unownedTaps: string[];
  /** Warm template builds a killed daemon left (their guest killed, tap and directory removed). */
  staleTemplateBuilds: string[];
  /** Clean-ups that failed (e.g. no privilege to delete a tap); logged, not fatal. */
  problems: string[];
}

/**
 * Makes the records match the host after a daemon (re)start. VMs outlive the
 * daemon, so: adopt every hypervisor process that is still the one recorded
 * (pid and /proc start time, never the pid alone), mark dead ones stopped
 * with the reason, release leases of deleted VMs, and remove leaked taps of
 * this home (aliased `banger:<key>`; other homes' and unaliased taps stay),
 * and what a daemon killed while building a warm template left: its guest
 * still running, its tap and temp directory (the next VM rebuilds it).
 * Half-done creations are left as they are (`creating`): their step state
 * makes the next `vm create` of that name resume. VMs handed over for removal
 * (`deleting`, by `vm run --rm`) whose removal a killed daemon never finished
 * are removed.
 */
export async function reconcileVms(env: VmEnv): Promise<ReconcileReport> {
  const repo = vmRepository(env);
  const report: ReconcileReport = { adopted: [], stopped: [], removed: [], releasedLeases: 0, removedTaps: [], unownedTaps: [], staleTemplateBuilds: [], problems: [] };
  const all = repo.listAll();
  // `vm run --rm` handed these over and the daemon died before their removal ended: finish it (the
  // hypervisor killed if it still runs, then tap, lease, files, record). Queued before the first await,
  // so a new VM of the same name asked for meanwhile waits for it (nameFreed).
  const deleting = all.filter((vm) => vm.state === 'deleting');
  const removals = deleting.map((vm) => finishRemoval(env, vm));
  const vms = all.filter((vm) => vm.state !== 'deleting');
  await Promise.all(removals);
  for (const vm of deleting) {
    if (repo.findById(vm.id)) report.problems.push(`finish removing vm ${vm.name}: it is still there (see the log)`);
    else report.removed.push(vm.name);
  }
  for (const vm of vms) {
    const handle = handleOf(env, vm);
    if (handle && processAlive(handle.pid, handle.startTime)) {
      env.watcher.watch(vm.id, vm.name, vm.spec.hypervisor, handle);
      report.adopted.push(vm.name);
    } else if (handle || vm.state === 'running') {
      const reason = handle ? `${vm.spec.hypervisor.kind} process ${handle.pid} ended while bangerd was not running` : 'no hypervisor process recorded';
      repo.update(vm.id, { state: vm.state === 'creating' ? 'creating' : 'stopped', stateReason: reason, pid: null, pidStartTime: null });
      report.stopped.push(vm.name);
    }
  }
  // Before the taps are listed: a stale build's tap (on no bridge, no owner alias) goes with it.
  try {
    report.staleTemplateBuilds = await cleanStaleTemplateBuilds(env.paths.vmsDir);
  } catch (error) {
    report.problems.push(`remove stale warm template builds: ${(error as Error).message}`);
  }
  report.releasedLeases = new IpLeasesTable(env.db).removeOrphans();
  const owned = new Set(repo.listAll().map((vm) => vm.tap ?? tapNameFor(vm.id)));
  const home = tapOwnerKey(env.paths.vmsDir);
  try {
    for (const tap of await listTaps()) {
      if (owned.has(tap.name)) continue;
      // Another banger home's tap (another user, a test beside a user's daemon): never ours to delete.
      if (tap.owner !== undefined && tap.owner !== home) continue;
      if (tap.owner === undefined) {
        report.unownedTaps.push(tap.name);
        continue;
      }
      try {
        await removeTap(tap.name);
        report.removedTaps.push(tap.name);
      } catch (error) {
        report.problems.push(`remove leaked tap ${tap.name}: ${(error as Error).message}`);
      }
    }
  } catch (error) {
    report.problems.push(`list taps: ${(error as Error).message}`);
  }
  return report;
}
