import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { testPausePoint } from '@banger/host';
import type { HypervisorDriver, VmHandle } from '@banger/hypervisor';
import type { Step, StepContext, StepReport } from '@banger/taskgraph';
import type { BuildRootfsOutputs } from '../steps/build-rootfs.js';
import type { SyncFilesOutputs } from '../steps/sync-files.js';
import { warmCopyOf } from '../steps/warm-disks.js';
import { applyWarmIdentity } from '../steps/warm-identity.js';
import { readBootedWith, type BootedWith } from '../suspended-state.js';
import type { VmDir } from '../vm-dir.js';
import { vmRepository, type VmEnv } from '../vm-env.js';
import type { VmCreateSpec, VmRecord } from '../vm-record.js';
import { describeIdentityFailure, guestState, identityFailure, templateToBlame, warmBootAction, type IdentityFailure } from './warm-fallback.js';
import { fallBackCold, restoreWarm } from './warm-restore.js';
import { warmRoot } from './warm-template.js';

export interface WarmBootOptions {
  vm: { id: string; name: string; fileSync: VmCreateSpec['fileSync'] };
  record: VmRecord;
  dir: VmDir;
  driver: HypervisorDriver;
  /** What a cold boot of the VM starts with (the restore swaps in the template's boot arguments). */
  bootedWith: BootedWith;
  /** The VM's recorded process, and whether it still runs. */
  existing: VmHandle | undefined;
  alive: boolean;
  /** The cold disk steps: the fallback rebuilds the disks with them. */
  cold: { rootfs: Step<BuildRootfsOutputs>; work: Step<SyncFilesOutputs> };
  /** Records a started process (pid, start time, watcher), so a daemon killed meanwhile finds it. */
  recordStarted: (handle: VmHandle, bootedWith: BootedWith) => Promise<void>;
  ctx: StepContext;
  report: StepReport;
}

/**
 * The warm part of `vm.boot`: restore, identity and their fallback in one
 * step, so no later step can see a restored guest that is still the
 * template. Returns the restored guest once it has this VM's identity, or
 * undefined when the caller boots the VM as usual: adopt its running process,
 * resume a saved state, or boot it cold — after a fallback (a restore that
 * could not happen, or identity that could not be applied: that guest
 * stopped, the disks rebuilt as a cold VM's, one warning line). A run
 * interrupted between the restore and the identity leaves `identity-pending`:
 * the step is not satisfied, and the next run gives the still-running guest
 * its identity, or falls back when it is gone.
 */
export async function bootWarm(env: VmEnv, o: WarmBootOptions): Promise<{ handle: VmHandle; bootedWith: BootedWith } | undefined> {
  const { dir, ctx, report } = o;
  const templateCopies = (await warmCopyOf(dir, 'rootfs')) !== undefined || (await warmCopyOf(dir, 'work')) !== undefined;
  const action = warmBootAction({ alive: o.alive, identityPending: existsSync(dir.identityPending), templateCopies });
  const fallBack = (why: string, template: string | undefined): Promise<void> =>
    fallBackCold(env, { name: o.vm.name, tap: o.record.tap ?? '', dir, why, template, restored: true, cold: o.cold, ctx, report });
  switch (action) {
    case 'adopt':
    case 'cold':
      return undefined;
    case 'abandoned': {
      // The watcher or the daemon's reconcile recorded how it ended.
      const failure: IdentityFailure = { kind: 'died', exit: o.record.stateReason ?? `${o.driver.kind} exited` };
      await fallBack(describeIdentityFailure(failure), templateToBlame(failure) ? await pendingTemplate(env, dir) : undefined);
      return undefined;
    }
    case 'identify':
      report.line('a guest restored from the warm template runs without its identity (an interrupted run): giving it now');
      return identify(env, o, { handle: o.existing!, bootedWith: readBootedWith(dir) ?? o.bootedWith }, fallBack);
    case 'restore': {
      const restored = await restoreWarm(env, { name: o.vm.name, tap: o.record.tap ?? '', dir, driver: o.driver, bootedWith: o.bootedWith, cold: o.cold, ctx, report });
      if (!restored) return undefined;
      await o.recordStarted(restored.handle, restored.bootedWith);
      // The fault suite's point between the restore and the identity (tests only: see testPausePoint).
      await testPausePoint('vm.boot:restored', ctx.signal);
      return identify(env, o, restored, fallBack);
    }
  }
}

/**
 * Applies the identity to a restored guest; on failure stops it (its disks
 * are discarded by the fallback) and falls back, removing the template when
 * it is to blame. A cancelled run is not a failure: the guest keeps running
 * with `identity-pending`, for the next run.
 */
async function identify(
  env: VmEnv,
  o: WarmBootOptions,
  restored: { handle: VmHandle; bootedWith: BootedWith },
  fallBack: (why: string, template: string | undefined) => Promise<void>,
): Promise<{ handle: VmHandle; bootedWith: BootedWith } | undefined> {
  const template = await pendingTemplate(env, o.dir);
  try {
    await applyWarmIdentity(env, o.vm, o.ctx, o.report);
    return restored;
  } catch (error) {
    if (o.ctx.signal.aborted) throw error;
    const failure = identityFailure(error, await guestState(o.driver, restored.handle));
    await abandon(env, o, restored.handle);
    await fallBack(describeIdentityFailure(failure), templateToBlame(failure) ? template : undefined);
    return undefined;
  }
}

/** Ends the restored guest that could not be given its identity: no watcher, process, agent link or recorded pid of it stays. */
async function abandon(env: VmEnv, o: WarmBootOptions, handle: VmHandle): Promise<void> {
  env.watcher.forget(o.vm.id);
  await o.driver.stop(handle, { graceMs: 0 });
  env.agent?.links.forget(o.vm.id);
  vmRepository(env).update(o.vm.id, { pid: null, pidStartTime: null });
}

/** The template the pending restore came from (restoreWarm notes it in `identity-pending`); only a directory under `<state>/warm`. */
async function pendingTemplate(env: VmEnv, dir: VmDir): Promise<string | undefined> {
  const noted = (await readFile(dir.identityPending, 'utf8').catch(() => '')).trim();
  return noted && dirname(noted) === warmRoot(env.paths.vmsDir) ? noted : undefined;
}
