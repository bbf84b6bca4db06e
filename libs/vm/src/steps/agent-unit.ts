import { existsSync } from 'node:fs';
import { statInode } from '@banger/disks';
import { processAlive } from '@banger/hypervisor';
import type { Step } from '@banger/taskgraph';
import { agentUnitText, hasAgentUnit, installAgentUnit } from '../agent/guest-unit.js';
import { vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import { createHash } from 'node:crypto';
import type { FreshRootfs } from './build-rootfs.js';

/** Outputs of `vm.agent-unit`. */
export interface AgentUnitOutputs { installed: boolean }

/**
 * `vm.agent-unit`: the guest contract's agent unit in the VM's rootfs. Its
 * own step rather than part of `vm.build-rootfs`, which destroys the disk
 * when it re-runs: this one only adds two files, so VMs created before the
 * agent existed get the unit at their next start. The rootfs is written only
 * while the VM is stopped (debugfs on a disk a running guest has mounted
 * would corrupt it): on a running VM the step is satisfied and waits for the
 * next start. A rootfs `vm.build-rootfs` made in this same run already has
 * the unit (written with the VM's other files, `fresh`): nothing to do.
 */
export function agentUnitStep(env: VmEnv, vm: { id: string; name: string }, fresh?: FreshRootfs): Step<AgentUnitOutputs> {
  const dir = vmDirOf(env, vm.name);
  const running = (): boolean => {
    const record = vmRepository(env).findById(vm.id);
    return record?.pid !== undefined && record.pidStartTime !== undefined && processAlive(record.pid, record.pidStartTime);
  };
  return {
    id: 'vm.agent-unit',
    title: 'Install the guest agent unit',
    needs: ['vm.build-rootfs'],
    inputs: () => ({ unit: createHash('sha256').update(agentUnitText()).digest('hex').slice(0, 16) }),
    isSatisfied: async (ctx) => {
      // A create: the disk is made (with the unit) by vm.build-rootfs in this run; no debugfs on a missing file.
      if (!existsSync(dir.rootfs)) return { satisfied: false, reason: `${dir.rootfs} is missing` };
      if (running()) return true;
      // Nothing to install into an image without systemd (see run).
      if ((ctx.previousOutputs as AgentUnitOutputs | undefined)?.installed === false && (await statInode(dir.rootfs, '/etc/systemd/system'))?.type !== 'directory') return true;
      return (await hasAgentUnit(dir.rootfs)) || { satisfied: false, reason: 'the rootfs has no (or an older) agent unit' };
    },
    run: async (ctx, report) => {
      if (fresh?.agentUnitInstalled) {
        report.line('written with the root disk');
        return { installed: true };
      }
      if (running()) {
        report.line('the VM is running: the unit is installed at its next start');
        return { installed: false };
      }
      // A copy of a warm template's rootfs has this very unit (its text is part of the template's fingerprint).
      if (existsSync(dir.warmCopy('rootfs'))) {
        report.line('the warm template this rootfs was copied from has this unit');
        return { installed: true };
      }
      // An image without systemd (no unit directory) gets no agent; the VM still works over ssh.
      if ((await statInode(dir.rootfs, '/etc/systemd/system'))?.type !== 'directory') {
        report.line('warning: the image has no /etc/systemd/system: no guest agent in this VM (ssh still works)');
        return { installed: false };
      }
      await installAgentUnit(dir.rootfs, { signal: ctx.signal });
      return { installed: true };
    },
    hint: 'check that the rootfs is a healthy ext4 (e2fsck -fn)',
  };
}
