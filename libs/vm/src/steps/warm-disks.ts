import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { run } from '@banger/host';
import { generateHostKey } from '@banger/ssh';
import type { Step, StepContext, StepReport } from '@banger/taskgraph';
import { installAgentUnit } from '../agent/guest-unit.js';
import { takeSpare, wantSpare } from '../disk-spare.js';
import { diskSparesDir, vmDirOf, type VmEnv } from '../vm-env.js';
import type { VmDir } from '../vm-dir.js';
import { WarmTemplateDir } from '../warm/warm-template.js';
import type { BuildRootfsOutputs } from './build-rootfs.js';
import type { SyncFilesOutputs } from './sync-files.js';
import type { WarmTemplateOutputs } from './warm-template.js';

/**
 * A copy of a template disk: a reflink where the file system has them, else a
 * sparse copy. Never the template's file itself: the template serves every
 * later VM, and a restored guest writes to its disks at once.
 */
async function copyDisk(source: string, dest: string, signal: AbortSignal): Promise<void> {
  await run('cp', ['--reflink=auto', '--sparse=always', source, dest], { signal });
}

/** Which template a disk of the VM was copied from (`warm-rootfs` / `warm-work`): the boot restores only when both name the same. */
export async function warmCopyOf(dir: VmDir, disk: 'rootfs' | 'work'): Promise<string | undefined> {
  return existsSync(dir.warmCopy(disk)) ? (await readFile(dir.warmCopy(disk), 'utf8')).trim() : undefined;
}

/**
 * `vm.build-rootfs` of a warm VM: the template's root disk as it was at the
 * snapshot (the restored guest's page cache matches it), and a host key pair
 * generated for this VM in the VM dir (pinned by `vm.boot`, installed in the
 * guest by `vm.warm-identity`). Without a template: the cold step's disk.
 */
export function warmRootfsStep(env: VmEnv, vm: { name: string }, cold: Step<BuildRootfsOutputs>): Step<BuildRootfsOutputs> {
  const dir = vmDirOf(env, vm.name);
  return {
    ...cold,
    needs: [...cold.needs, 'vm.warm-template'],
    run: async (ctx, report) => {
      const template = ctx.need<WarmTemplateOutputs>('vm.warm-template');
      if (!template.dir) return cold.run(ctx, report);
      dir.create();
      const hostKey = generateHostKey(vm.name);
      await ctx.atomicWrite(dir.hostPrivateKey, async (path) => writeFile(path, hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n`, { mode: 0o600 }));
      await ctx.atomicWrite(dir.hostPublicKey, `${hostKey.publicKey}\n`);
      await placeTemplateCopy(ctx, dir, 'rootfs', template.dir, sparesDirOf(env));
      report.line(`copy of template ${template.fingerprint}`);
      return { rootfs: dir.rootfs, method: 'warm-copy', machineId: '' };
    },
  };
}

/** `vm.sync-files` of a warm VM: the template's work disk; `[[file_sync]]` and authorized_keys arrive through the agent. */
export function warmWorkDiskStep(env: VmEnv, vm: { name: string }, cold: Step<SyncFilesOutputs>): Step<SyncFilesOutputs> {
  const dir = vmDirOf(env, vm.name);
  return {
    ...cold,
    needs: [...cold.needs, 'vm.warm-template'],
    run: async (ctx, report) => {
      const template = ctx.need<WarmTemplateOutputs>('vm.warm-template');
      if (!template.dir) return cold.run(ctx, report);
      dir.create();
      await placeTemplateCopy(ctx, dir, 'work', template.dir, sparesDirOf(env));
      return { workDisk: dir.workDisk, entries: 0 };
    },
  };
}

/**
 * After a restore that could not happen: the disks that are template copies
 * are built again as a cold VM's (own host key, machine-id, file_sync; the
 * agent unit), so the cold boot that follows is an ordinary one. `restored`:
 * a guest restored from the template ran on both disks (and was abandoned
 * before it got its identity), so both are rebuilt whatever their notes say.
 */
export async function rebuildColdDisks(
  dir: VmDir,
  cold: { rootfs: Step<BuildRootfsOutputs>; work: Step<SyncFilesOutputs> },
  ctx: StepContext,
  report: StepReport,
  options: { restored?: boolean } = {},
): Promise<void> {
  if (options.restored || (await warmCopyOf(dir, 'rootfs'))) {
    await rm(dir.rootfs, { force: true });
    await cold.rootfs.run(ctx, report);
    await installAgentUnit(dir.rootfs, { signal: ctx.signal });
    await rm(dir.warmCopy('rootfs'), { force: true });
  }
  if (options.restored || (await warmCopyOf(dir, 'work'))) {
    await rm(dir.workDisk, { force: true });
    await cold.work.run(ctx, report);
    await rm(dir.warmCopy('work'), { force: true });
  }
}

/**
 * Copies one of the template's disks into the VM dir: a temp copy, the note of
 * which template it came from, then the rename — so a disk in place is always
 * a whole copy, and the note is never older than it.
 */
async function placeTemplateCopy(ctx: StepContext, dir: VmDir, disk: 'rootfs' | 'work', templateDir: string, sparesDir: string | undefined): Promise<void> {
  const files = new WarmTemplateDir(templateDir);
  const [source, target] = disk === 'rootfs' ? [files.rootfs, dir.rootfs] : [files.workDisk, dir.workDisk];
  const temp = ctx.tempPath(target);
  // A spare copy made after the last VM of this template is taken with a rename (disk-spare.ts); the next is made after this VM's graph.
  if (sparesDir) wantSpare(sparesDir, source);
  if (!sparesDir || !(await takeSpare(sparesDir, source, temp))) await copyDisk(source, temp, ctx.signal);
  await ctx.atomicWrite(dir.warmCopy(disk), `${templateDir}\n`);
  await ctx.commit(temp, target);
}

/** Where spare copies of the template's disks are kept, unless `disk_spares = false`. */
const sparesDirOf = (env: VmEnv): string | undefined => (env.config.diskSpares !== false ? diskSparesDir(env) : undefined);
