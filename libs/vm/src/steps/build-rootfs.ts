import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { generateHostKey } from '@banger/ssh';
import type { Step } from '@banger/taskgraph';
import { cloneRootfs } from '../clone-rootfs.js';
import { personaliseRootfs, probeRootfsOnce } from '../personalise-rootfs.js';
import type { ImageRef } from '@banger/images';
import { rootfsBasesDir, diskSparesDir, vmDirOf, type VmEnv } from '../vm-env.js';

/** Outputs of `vm.build-rootfs`. */
export interface BuildRootfsOutputs { rootfs: string; method: string; machineId: string }

/**
 * What `vm.build-rootfs` tells `vm.agent-unit` within one run of the graph
 * (not persisted: a later start must look at the disk itself): the agent
 * unit went in with the rest of the VM's files, in the same debugfs runs.
 */
export interface FreshRootfs { agentUnitInstalled: boolean }

/**
 * `vm.build-rootfs`: the VM's own root disk — a reflink or sparse copy of the
 * image's rootfs grown to the disk size, with a host key generated for this
 * VM (its public half kept in the VM dir for pinning), its own hostname
 * and machine-id, a patient work-disk mount (see relaxWorkDiskTimeout) and the
 * guest agent's unit (see vm.agent-unit), all in one pass (personaliseRootfs). Everything happens on a temp file renamed into place last,
 * so a failed or killed attempt leaves no half disk. Re-running it over an
 * existing disk would throw away what was installed in the guest, so the
 * step declares that and the engine refuses unless explicitly allowed.
 */
export function buildRootfsStep(env: VmEnv, vm: { name: string; diskBytes: number }, fresh: FreshRootfs = { agentUnitInstalled: false }): Step<BuildRootfsOutputs> {
  const dir = vmDirOf(env, vm.name);
  return {
    id: 'vm.build-rootfs',
    title: 'Build the root disk',
    needs: ['vm.fetch-image'],
    inputs: () => ({ diskBytes: String(vm.diskBytes), hostname: vm.name }),
    isSatisfied: () => {
      if (!existsSync(dir.rootfs)) return { satisfied: false, reason: `${dir.rootfs} is missing` };
      if (!existsSync(dir.hostPublicKey)) return { satisfied: false, reason: `${dir.hostPublicKey} is missing` };
      return true;
    },
    destroys: () => (existsSync(dir.rootfs) ? `recreates the root disk of vm ${vm.name} (changes made in the guest outside /root are lost)` : undefined),
    run: async (ctx, report) => {
      const image = ctx.need<ImageRef>('vm.fetch-image');
      dir.create();
      const temp = ctx.tempPath(dir.rootfs);
      report.line(`cloning ${image.rootfs}`);
      // The image's files the persona depends on are those of every copy of it: read once per image file, beside the first clone.
      const [clone, probe] = await Promise.all([
        cloneRootfs(image.rootfs, temp, vm.diskBytes, ctx.signal, { basesDir: rootfsBasesDir(env), ...(env.config.diskSpares !== false ? { sparesDir: diskSparesDir(env) } : {}) }),
        probeRootfsOnce(image.rootfs, { signal: ctx.signal, scratchDir: dir.root }),
      ]);
      report.line(`${clone.method}, grown to ${Math.round(vm.diskBytes / 2 ** 20)} MiB`);
      const hostKey = generateHostKey(vm.name);
      const persona = await personaliseRootfs(temp, { hostname: vm.name, hostKey, agentUnit: true }, { signal: ctx.signal, probe });
      if (persona.workDisk === 'none') {
        report.line('warning: the image mounts no work disk (no banger-work-disk.service, no LABEL=banger-work line in /etc/fstab); /root will not be the work disk');
      }
      await ctx.atomicWrite(dir.hostPrivateKey, async (path) => writeFile(path, hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n`, { mode: 0o600 }));
      await ctx.atomicWrite(dir.hostPublicKey, `${hostKey.publicKey}\n`);
      await ctx.commit(temp, dir.rootfs);
      fresh.agentUnitInstalled = persona.agentUnit;
      return { rootfs: dir.rootfs, method: clone.method, machineId: persona.machineId };
    },
    hint: 'check free space in the state dir and that the image is a healthy ext4 (e2fsck -fn)',
  };
}
