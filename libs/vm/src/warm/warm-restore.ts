import { rm, writeFile } from 'node:fs/promises';
import { runPrivileged } from '@banger/host';
import { isSuspendCapable, type HypervisorDriver, type VmHandle } from '@banger/hypervisor';
import { ensureTap, tapOwnerKey } from '@banger/network';
import type { Step, StepContext, StepReport } from '@banger/taskgraph';
import type { BootedWith } from '../suspended-state.js';
import type { VmDir } from '../vm-dir.js';
import type { VmEnv } from '../vm-env.js';
import type { BuildRootfsOutputs } from '../steps/build-rootfs.js';
import type { SyncFilesOutputs } from '../steps/sync-files.js';
import { rebuildColdDisks, warmCopyOf } from '../steps/warm-disks.js';
import { readWarmTemplate, removeWarmTemplate, WarmTemplateDir } from './warm-template.js';
import { warmFallbackWarning } from './warm-fallback.js';

/**
 * Why a template saved under `template` cannot be restored as a VM started
 * with `now`, or undefined when it can. Disk paths, the tap, the MAC, the
 * name and the boot arguments differ by design (each VM has its copies and
 * its tap; the identity is applied afterwards); the machine and the shared
 * read-only disks must be the same.
 */
export function whyNotRestorable(template: BootedWith, now: BootedWith): string | undefined {
  if (template.binary !== now.binary) return `it was saved by ${template.binary}, not ${now.binary}`;
  const was = template.spec;
  const is = now.spec;
  for (const key of ['vcpu', 'memoryMib', 'kernel'] as const) {
    if (JSON.stringify(was[key]) !== JSON.stringify(is[key])) return `the VM's ${key} differs from the template's`;
  }
  if (was.disks.length !== is.disks.length || was.disks.some((d, i) => d.readOnly !== is.disks[i]?.readOnly || d.id !== is.disks[i]?.id)) return 'the VM has other disks than the template';
  // The shared read-only disks (kernel modules, agent runtime) must be the very same files.
  if (was.disks.some((d, i) => d.readOnly && d.path !== is.disks[i]?.path)) return 'the template was saved with other kernel modules or another agent runtime disk';
  if (Boolean(was.net) !== Boolean(is.net) || Boolean(was.agentSocketPath) !== Boolean(is.agentSocketPath)) return 'the VM has other devices than the template';
  return undefined;
}

/** Puts a restored VM's tap back on the bridge (after the agent gave the guest its identity, or for a cold boot). */
export async function attachTap(env: VmEnv, tap: string): Promise<void> {
  await ensureTap({ name: tap, bridge: env.config.bridgeName, ownerUid: process.getuid?.() ?? 0, ownerKey: tapOwnerKey(env.paths.vmsDir) });
}

/**
 * Starts a warm VM from its template: QEMU with the VM's own disk copies and
 * tap, loading the template's state. Until its identity is applied
 * (applyWarmIdentity, in the same step) the guest still has the template's
 * MAC and address, so its tap is taken off the bridge first: no two restored
 * VMs are ever on the bridge with the same MAC or IP. When the restore cannot
 * happen (the template is gone, incomplete, saved under another QEMU or
 * machine, or QEMU refuses its state) it falls back (fallBackCold: one
 * warning, the bad template removed, the copied disks rebuilt as a cold VM's)
 * and returns undefined: the caller boots cold.
 */
export async function restoreWarm(
  env: VmEnv,
  options: {
    name: string;
    tap: string;
    dir: VmDir;
    driver: HypervisorDriver;
    bootedWith: BootedWith;
    cold: { rootfs: Step<BuildRootfsOutputs>; work: Step<SyncFilesOutputs> };
    ctx: StepContext;
    report: StepReport;
  },
): Promise<{ handle: VmHandle; bootedWith: BootedWith } | undefined> {
  const { dir, driver, ctx, report } = options;
  const rootfsFrom = await warmCopyOf(dir, 'rootfs');
  const workFrom = await warmCopyOf(dir, 'work');
  if (!rootfsFrom && !workFrom) return undefined;
  const template = new WarmTemplateDir(rootfsFrom ?? workFrom ?? '');
  const meta = readWarmTemplate(template);
  let why: string | undefined;
  if (rootfsFrom !== workFrom) why = 'its disks are not copies of the same template';
  else if (!meta) why = 'the template is incomplete or gone';
  else if (!isSuspendCapable(driver)) why = `${driver.kind} cannot restore a saved state`;
  else why = whyNotRestorable(meta.bootedWith, options.bootedWith);
  if (!why && meta) {
    const spec = { ...options.bootedWith.spec, bootArgs: meta.bootedWith.spec.bootArgs };
    const started = Date.now();
    try {
      await runPrivileged('ip', ['link', 'set', 'dev', options.tap, 'nomaster']);
      const handle = await driver.start(spec, { signal: ctx.signal, restoreFrom: template.state });
      // Names the template: a guest abandoned before its identity may put the blame on it (warm-boot.ts).
      await writeFile(dir.identityPending, `${template.root}\n`);
      await rm(dir.warmCopy('rootfs'), { force: true });
      await rm(dir.warmCopy('work'), { force: true });
      report.line(`restored from warm template ${meta.fingerprint} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return { handle, bootedWith: { binary: options.bootedWith.binary, spec } };
    } catch (error) {
      if (ctx.signal.aborted) throw error;
      why = (error as Error).message.split('\n')[0] ?? 'unknown error';
    }
  }
  await fallBackCold(env, { ...options, why: why ?? 'unknown error', template: template.root });
  return undefined;
}

/**
 * Every warm fallback ends here, whatever failed (the restore, or the
 * identity of a restored guest that was then stopped): one warning line
 * naming the cause, the template removed when it is to blame (`template`),
 * the disks rebuilt as a cold VM's, the tap back on the bridge, and no
 * `identity-pending` left. The caller then boots cold, in the same step.
 */
export async function fallBackCold(
  env: VmEnv,
  options: {
    name: string;
    tap: string;
    dir: VmDir;
    why: string;
    /** The template to remove (it is to blame); undefined keeps it. */
    template: string | undefined;
    /** A restored guest ran on both disks: both are rebuilt. */
    restored?: boolean;
    cold: { rootfs: Step<BuildRootfsOutputs>; work: Step<SyncFilesOutputs> };
    ctx: StepContext;
    report: StepReport;
  },
): Promise<void> {
  const { dir, ctx, report } = options;
  report.line(warmFallbackWarning(options.name, options.why));
  if (options.template) await removeWarmTemplate(options.template);
  await rebuildColdDisks(dir, options.cold, ctx, report, { restored: options.restored ?? false });
  await attachTap(env, options.tap);
  await rm(dir.identityPending, { force: true });
}
