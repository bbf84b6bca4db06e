import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { generateHostKey } from '@banger/ssh';
import { installHostKey } from '@banger/disks';
import type { Step } from '@banger/taskgraph';
import { cloneRootfs } from '../clone-rootfs.js';
import { writeMachineIdentity } from '../machine-identity.js';
import { hasWorkDiskUnit, relaxWorkDiskTimeout } from '../work-disk-timeout.js';
import type { ImageRef } from '@banger/images';
import { vmDirOf, type VmEnv } from '../vm-env.js';

/** Outputs of `vm.build-rootfs`. */
export interface BuildRootfsOutputs { rootfs: string; method: string; machineId: string }

/**
 * `vm.build-rootfs`: the VM's own root disk — a reflink or sparse copy of the
 * image's rootfs grown to the disk size, with a host key generated for this
 * VM (its public half kept in the VM dir for pinning), its own hostname
 * and machine-id, and a patient work-disk mount (see relaxWorkDiskTimeout). Everything happens on a temp file renamed into place last,
 * so a failed or killed attempt leaves no half disk. Re-running it over an
 * existing disk would throw away what was installed in the guest, so the
 * step declares that and the engine refuses unless explicitly allowed.
 */
export function buildRootfsStep(env: VmEnv, vm: { name: string; diskBytes: number }): Step<BuildRootfsOutputs> {
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
      const clone = await cloneRootfs(image.rootfs, temp, vm.diskBytes, ctx.signal);
      report.line(`${clone.method}, grown to ${Math.round(vm.diskBytes / 2 ** 20)} MiB`);
      const hostKey = generateHostKey(vm.name);
      await installHostKey(temp, hostKey, { signal: ctx.signal });
      const { machineId } = await writeMachineIdentity(temp, vm.name, { signal: ctx.signal });
      if (!(await relaxWorkDiskTimeout(temp, { signal: ctx.signal })) && !(await hasWorkDiskUnit(temp))) {
        report.line('warning: the image mounts no work disk (no banger-work-disk.service, no LABEL=banger-work line in /etc/fstab); /root will not be the work disk');
      }
      await ctx.atomicWrite(dir.hostPrivateKey, async (path) => writeFile(path, hostKey.privateKey.endsWith('\n') ? hostKey.privateKey : `${hostKey.privateKey}\n`, { mode: 0o600 }));
      await ctx.atomicWrite(dir.hostPublicKey, `${hostKey.publicKey}\n`);
      await ctx.commit(temp, dir.rootfs);
      return { rootfs: dir.rootfs, method: clone.method, machineId };
    },
    hint: 'check free space in the state dir and that the image is a healthy ext4 (e2fsck -fn)',
  };
}
