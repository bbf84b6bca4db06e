import type { Graph } from '@banger/taskgraph';
import { bootStep } from './steps/boot.js';
import { buildRootfsStep, type FreshRootfs } from './steps/build-rootfs.js';
import { createTapStep } from './steps/create-tap.js';
import { fetchImageStep, fetchKernelStep } from './steps/fetch.js';
import { syncFilesStep } from './steps/sync-files.js';
import { waitSshStep, type SshWaitOptions } from './steps/wait-ssh.js';
import { runtimeDiskStep } from './steps/runtime-disk.js';
import { agentUnitStep } from './steps/agent-unit.js';
import { waitAgentStep, type AgentWaitOptions } from './steps/wait-agent.js';
import type { VmEnv } from './vm-env.js';
import type { VmRecord } from './vm-record.js';
import { warmTemplateStep } from './steps/warm-template.js';
import { warmRootfsStep, warmWorkDiskStep } from './steps/warm-disks.js';

/** The task-graph id of a VM's creation: its step state is kept under it until the VM is deleted. */
export const vmGraphId = (name: string): string => `vm:${name}`;

/** The step ids of the creation graph, in the order the user reads them. */
export const VM_CREATE_STEP_IDS = [
  'vm.fetch-kernel',
  'vm.fetch-image',
  'vm.build-rootfs',
  'vm.agent-unit',
  'vm.runtime-disk',
  'vm.sync-files',
  'vm.create-tap',
  'vm.boot',
  'vm.wait-agent',
  'vm.wait-ssh',
] as const;

/** The step a warm VM's graph adds (`spec.warm`): the template (the restore and the identity are `vm.boot`'s). */
export const VM_WARM_STEP_IDS = ['vm.warm-template'] as const;

/**
 * The graph of a VM record: fetch kernel ‖ fetch image → build rootfs ‖ sync
 * files (work disk), agent unit (into the rootfs), runtime disk (shared, read-only),
 * create tap → boot → wait-agent (the agent's hello, then the guest's
 * network) → wait-ssh (done at once with `ssh: 'if-no-agent'` and the agent
 * up). Independent steps run
 * concurrently. It is the one graph of a VM, under `vmGraphId`: creating is
 * running it the first time, resuming an interrupted create is running it
 * again, and starting a stopped VM is running it once more (everything but
 * the tap, boot and wait is satisfied and skipped).
 */
export function vmCreateGraph(env: VmEnv, vm: VmRecord, wait: SshWaitOptions & Pick<AgentWaitOptions, 'graceMs' | 'networkMs'> = {}): Graph {
  const sizing = { name: vm.name, diskBytes: vm.diskBytes };
  // Per run: a root disk built in this run has the agent unit already (one debugfs pass, not two).
  const fresh: FreshRootfs = { agentUnitInstalled: false };
  const rootfs = buildRootfsStep(env, sizing, fresh);
  const work = syncFilesStep(env, { ...sizing, fileSync: vm.spec.fileSync });
  const bootNeeds = ['vm.fetch-kernel', 'vm.build-rootfs', 'vm.agent-unit', 'vm.runtime-disk', 'vm.sync-files', 'vm.create-tap'];
  const agentWait = waitAgentStep(env, vm, wait);
  if (vm.spec.warm) {
    // Warm start (docs/vm-lifecycle.md): the disks are copies of the template's; vm.boot restores its
    // saved state and makes the guest this VM (or boots it cold) before its agent and ssh are waited for.
    return [
      fetchKernelStep(env, vm.kernel),
      fetchImageStep(env, vm.image),
      runtimeDiskStep(env),
      warmTemplateStep(env, { id: vm.id, name: vm.name, record: vm }),
      warmRootfsStep(env, vm, rootfs),
      warmWorkDiskStep(env, vm, work),
      agentUnitStep(env, vm),
      createTapStep(env, vm),
      bootStep(env, vm, [...bootNeeds, 'vm.fetch-image'], { rootfs, work, fileSync: vm.spec.fileSync }),
      agentWait,
      waitSshStep(env, vm, wait),
    ];
  }
  return [
    fetchKernelStep(env, vm.kernel),
    fetchImageStep(env, vm.image),
    rootfs,
    work,
    agentUnitStep(env, vm, fresh),
    runtimeDiskStep(env),
    createTapStep(env, vm),
    bootStep(env, vm, bootNeeds),
    agentWait,
    waitSshStep(env, vm, wait),
  ];
}
