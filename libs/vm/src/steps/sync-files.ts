import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureUserKey } from '@banger/ssh';
import { makeWorkDisk, stageWorkDisk } from '@banger/disks';
import { cleanStaleTemps, run, tempSibling } from '@banger/host';
import type { Step } from '@banger/taskgraph';
import type { ImageRef } from '@banger/images';
import { userKeyPath, vmDirOf, workDiskBasesDir, type VmEnv } from '../vm-env.js';
import { workDiskFromBase } from '../work-disk-base.js';
import type { VmCreateSpec } from '../vm-record.js';

/** Outputs of `vm.sync-files`. */
export interface SyncFilesOutputs { workDisk: string; entries: number }

/**
 * `vm.sync-files`: the work disk (vdb, mounted at /root): the image's /root
 * skeleton, the `[[file_sync]]` entries, and authorized_keys with banger's
 * key, modes normalised for sshd's StrictModes. Built once, at create time:
 * it is the user's data from then on, so a changed file_sync list does not
 * re-run it, and re-running it over an existing disk is declared destructive.
 */
export function syncFilesStep(env: VmEnv, vm: { name: string; diskBytes: number; fileSync: VmCreateSpec['fileSync'] }): Step<SyncFilesOutputs> {
  const dir = vmDirOf(env, vm.name);
  return {
    id: 'vm.sync-files',
    title: 'Build the work disk (/root)',
    needs: ['vm.fetch-image'],
    // Deliberately not the file_sync entries: see above.
    inputs: () => ({ workDisk: 'v1' }),
    isSatisfied: () => existsSync(dir.workDisk) || { satisfied: false, reason: `${dir.workDisk} is missing` },
    destroys: () => (existsSync(dir.workDisk) ? `recreates the work disk of vm ${vm.name} (everything in its /root is lost)` : undefined),
    run: async (ctx, report) => {
      const image = ctx.need<ImageRef>('vm.fetch-image');
      dir.create();
      const key = await ensureUserKey(userKeyPath(env));
      const build = (target: string) => buildWorkDisk(dir.root, { skeleton: image.rootSkel, authorizedKeys: key.publicKey, fileSync: vm.fileSync, sizeBytes: vm.diskBytes, target, signal: ctx.signal });
      for (const entry of vm.fileSync) report.line(`file_sync ${entry.host} → ${entry.guest}`);
      if (vm.fileSync.length > 0) {
        await build(dir.workDisk);
      } else {
        // Without file_sync entries every VM of this image, key and size gets the same disk: a copy of one made once.
        const how = await workDiskFromBase(workDiskBasesDir(env), { skeleton: image.rootSkel, authorizedKey: key.publicKey, sizeBytes: vm.diskBytes }, dir.workDisk, build, ctx.signal);
        if (how === 'built') report.line('made the work disk base for this image and size');
      }
      return { workDisk: dir.workDisk, entries: vm.fileSync.length };
    },
    hint: 'check the [[file_sync]] entries in config.toml and free space in the state dir',
  };
}

/**
 * Builds a work disk at `target`: the image's /root skeleton, the file_sync
 * entries and banger's key, staged in the VM's directory and made into ext4.
 */
async function buildWorkDisk(vmRoot: string, o: { skeleton: string | undefined; authorizedKeys: string; fileSync: VmCreateSpec['fileSync']; sizeBytes: number; target: string; signal: AbortSignal }): Promise<void> {
  // Named with the daemon's pid (tempSibling), so the leftovers of a daemon killed mid-step are
  // recognised and removed by the next attempt (found by the fault suite: they stayed until delete).
  await cleanStaleTemps(join(vmRoot, '.work-staging'));
  const scratch = tempSibling(join(vmRoot, '.work-staging'));
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  try {
    let skeletonDir: string | undefined;
    if (o.skeleton) {
      skeletonDir = join(scratch, 'skel');
      await mkdir(skeletonDir, { recursive: true });
      await run('tar', ['-xf', o.skeleton, '-C', skeletonDir, '--numeric-owner'], { signal: o.signal });
    }
    const staging = join(scratch, 'root');
    await stageWorkDisk({ stagingDir: staging, authorizedKeys: o.authorizedKeys, ...(skeletonDir ? { skeletonDir } : {}), fileSync: o.fileSync });
    await makeWorkDisk(staging, o.target, o.sizeBytes, { signal: o.signal });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
