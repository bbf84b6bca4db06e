import { processAlive } from '@banger/hypervisor';
import { isGraphRunning } from '@banger/taskgraph';
import { vmGraphId } from './vm-graph.js';
import { vmDirOf, type VmEnv } from './vm-env.js';
import type { VmRecord } from './vm-record.js';
import type { AgentStatus } from './agent/agent-links.js';

/** One VM as `vm list` shows it. */
export interface VmInfo {
  name: string;
  id: string;
  state: VmRecord['state'];
  /** Why it is in that state; for `creating`, "interrupted" when no creation runs now. */
  stateReason?: string;
  image: string;
  kernel: string;
  vcpu: number;
  memoryMib: number;
  diskBytes: number;
  ip?: string;
  hypervisor: string;
  /** ISO 8601. */
  createdAt: string;
  /** The guest agent as the daemon last saw it; absent when the VM is not running or nothing tried yet. */
  agent?: AgentStatus;
}

/** `vm show`: everything `vm list` has, plus where things are and how it runs. */
export interface VmDetails extends VmInfo {
  mac?: string;
  tap?: string;
  pid?: number;
  dir: string;
  consoleLog: string;
  hypervisorDetails: { kind: string; accel: string; binary: string; reason: string; warning?: string };
  /** The sizing with provenance, as the create's spec: line printed it. */
  sizing: { vcpu: string; memoryMib: string; diskBytes: string };
  fileSync: Array<{ host: string; guest: string; mode?: string }>;
}

/** The record as the user should see it: a creating VM whose graph is not running was interrupted. */
export function vmInfo(vm: VmRecord, agent?: AgentStatus): VmInfo {
  let reason = vm.stateReason;
  if (vm.state === 'creating' && !isGraphRunning(vmGraphId(vm.name))) {
    reason = `creation interrupted${reason ? ` (${reason})` : ''}; run banger vm create --name ${vm.name} to resume`;
  }
  return {
    name: vm.name,
    id: vm.id,
    state: vm.state,
    ...(reason ? { stateReason: reason } : {}),
    image: vm.image,
    kernel: vm.kernel,
    vcpu: vm.vcpu,
    memoryMib: vm.memoryMib,
    diskBytes: vm.diskBytes,
    ...(vm.ip ? { ip: vm.ip } : {}),
    hypervisor: `${vm.spec.hypervisor.kind}/${vm.spec.hypervisor.accel}`,
    createdAt: new Date(vm.createdAt).toISOString(),
    ...(agent && vm.state === 'running' ? { agent } : {}),
  };
}

export function vmDetails(env: Pick<VmEnv, 'paths'>, vm: VmRecord, agent?: AgentStatus): VmDetails {
  const dir = vmDirOf(env, vm.name);
  const why = (v: { source: string; detail: string }) => (v.source === 'host' ? `host: ${v.detail}` : v.source === 'flag' ? `flag ${v.detail}` : v.source);
  const alive = vm.pid !== undefined && vm.pidStartTime !== undefined && processAlive(vm.pid, vm.pidStartTime);
  return {
    ...vmInfo(vm, agent),
    ...(vm.mac ? { mac: vm.mac } : {}),
    ...(vm.tap ? { tap: vm.tap } : {}),
    ...(alive ? { pid: vm.pid } : {}),
    dir: dir.root,
    consoleLog: dir.consoleLog,
    hypervisorDetails: { ...vm.spec.hypervisor },
    sizing: {
      vcpu: `${vm.vcpu} (${why(vm.spec.vcpu)})`,
      memoryMib: `${vm.memoryMib} MiB (${why(vm.spec.memoryMib)})`,
      diskBytes: `${vm.diskBytes} bytes (${why(vm.spec.diskBytes)})`,
    },
    fileSync: vm.spec.fileSync,
  };
}
