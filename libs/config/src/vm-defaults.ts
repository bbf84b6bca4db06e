import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostCpuCount, hostMemoryMiB } from '@banger/host';
import { resolvePaths } from './paths.js';
import { GiB, MiB, formatSize, parseSize } from './size.js';
import type { BangerConfig, HostFacts, Provenanced, ResolvedVmDefaults, VmSpec } from './types.js';

/**
 * The host heuristics of the seed: vcpu = cpus/4 capped at 4, memory =
 * RAM/8 capped at 8 GiB (rounded down to 128 MiB), disk = a quarter of the
 * state file system capped at 8 GiB (rounded down to 1 GiB) so a handful of
 * sparse disks cannot fill the host.
 */
export const VM_HEURISTICS = {
  vcpuDivisor: 4,
  vcpuCap: 4,
  memoryDivisor: 8,
  memoryCapMib: 8 * 1024,
  memoryStepMib: 128,
  diskDivisor: 4,
  diskCapBytes: 8 * GiB,
} as const;

/**
 * Built-in floor constants: what a VM gets when a heuristic comes out lower
 * (a 2-CPU laptop's cpus/4 is 0) or the host fact is unknown. 1024 MiB is
 * what the golden image (systemd + docker) needs to boot comfortably; 4 GiB
 * holds its rootfs with room to work.
 */
export const VM_FLOOR = {
  vcpu: 1,
  memoryMib: 1024,
  diskBytes: 4 * GiB,
} as const;

/**
 * The effective sizing for new VMs with provenance, exactly as the seed
 * orders it: `[vm_defaults]` in config wins; otherwise the host heuristic;
 * a heuristic below the floor (or without the host fact) yields the floor
 * with source `builtin`. `detail` is a short rule (`cpus/4`,
 * `ram/8, capped at 8 GiB`) for host values, the key for config values and
 * the reason for builtin ones.
 */
export function resolveVmDefaults(config: Pick<BangerConfig, 'vmDefaults'>, host: HostFacts = currentHostFacts()): ResolvedVmDefaults {
  const configured = config.vmDefaults;
  return {
    vcpu: configured.vcpu !== undefined ? fromConfig(configured.vcpu, 'vm_defaults.vcpu') : vcpuHeuristic(host.cpus),
    memoryMib: configured.memoryMib !== undefined ? fromConfig(configured.memoryMib, 'vm_defaults.memory_mib') : memoryHeuristic(host.memoryMib),
    diskBytes:
      configured.diskSize !== undefined ? fromConfig(parseSize(configured.diskSize), 'vm_defaults.disk_size') : diskHeuristic(host.stateFsBytes),
  };
}

/**
 * This host's facts for `resolveVmDefaults`: CPUs, RAM, and the size of the
 * file system holding `stateDir` (its nearest existing ancestor, so it
 * works before the directory is created).
 */
export function currentHostFacts(stateDir?: string): HostFacts {
  const facts: HostFacts = { cpus: hostCpuCount(), memoryMib: hostMemoryMiB() };
  const size = fileSystemBytes(stateDir ?? safeStateDir());
  if (size !== undefined) facts.stateFsBytes = size;
  return facts;
}

/**
 * Applies command-line overrides (`--vcpu`, `--memory`, `--disk-size`) on top
 * of the resolved defaults; overridden values get source `flag`.
 */
export function applySpecOverrides(defaults: ResolvedVmDefaults, overrides: { vcpu?: number; memoryMib?: number; diskBytes?: number } = {}): VmSpec {
  const pick = <K extends keyof VmSpec>(key: K, flag: string): VmSpec[K] => {
    const value = overrides[key];
    return value !== undefined ? { value, source: 'flag', detail: flag } : defaults[key];
  };
  return { vcpu: pick('vcpu', '--vcpu'), memoryMib: pick('memoryMib', '--memory'), diskBytes: pick('diskBytes', '--disk-size') };
}

/**
 * The `spec:` line `vm create` / `vm run` print before doing anything:
 * `spec: 2 vCPU (host: cpus/4), 4096 MiB RAM (config), 8 GiB disk (builtin)`.
 * Host values show their rule; config, flag and builtin values show only
 * their source (doctor explains builtin floors in full).
 */
export function formatSpecLine(spec: VmSpec | ResolvedVmDefaults): string {
  const why = (p: { source: string; detail: string }) => (p.source === 'host' ? `(host: ${p.detail})` : `(${p.source})`);
  return (
    `spec: ${spec.vcpu.value} vCPU ${why(spec.vcpu)}, ` +
    `${spec.memoryMib.value} MiB RAM ${why(spec.memoryMib)}, ` +
    `${formatSize(spec.diskBytes.value)} disk ${why(spec.diskBytes)}`
  );
}

function fromConfig(value: number, key: string): Provenanced<number> {
  return { value, source: 'config', detail: key };
}

function vcpuHeuristic(cpus: number): Provenanced<number> {
  const { vcpuDivisor, vcpuCap } = VM_HEURISTICS;
  const raw = Math.floor(cpus / vcpuDivisor);
  if (raw < VM_FLOOR.vcpu) return { value: VM_FLOOR.vcpu, source: 'builtin', detail: `floor of ${VM_FLOOR.vcpu}; cpus/${vcpuDivisor} = ${cpus}/${vcpuDivisor} = ${raw}` };
  if (raw > vcpuCap) return { value: vcpuCap, source: 'host', detail: `cpus/${vcpuDivisor}, capped at ${vcpuCap}` };
  return { value: raw, source: 'host', detail: `cpus/${vcpuDivisor}` };
}

function memoryHeuristic(memoryMib: number): Provenanced<number> {
  const { memoryDivisor, memoryCapMib, memoryStepMib } = VM_HEURISTICS;
  const raw = Math.floor(memoryMib / memoryDivisor / memoryStepMib) * memoryStepMib;
  if (raw < VM_FLOOR.memoryMib) {
    return { value: VM_FLOOR.memoryMib, source: 'builtin', detail: `floor of ${VM_FLOOR.memoryMib} MiB; ram/${memoryDivisor} = ${raw} MiB` };
  }
  if (raw > memoryCapMib) return { value: memoryCapMib, source: 'host', detail: `ram/${memoryDivisor}, capped at ${formatSize(memoryCapMib * MiB)}` };
  return { value: raw, source: 'host', detail: `ram/${memoryDivisor}` };
}

function diskHeuristic(stateFsBytes: number | undefined): Provenanced<number> {
  const { diskDivisor, diskCapBytes } = VM_HEURISTICS;
  const floor = VM_FLOOR.diskBytes;
  if (stateFsBytes === undefined) {
    return { value: floor, source: 'builtin', detail: `floor of ${formatSize(floor)}; state file system size unknown` };
  }
  const raw = Math.floor(stateFsBytes / diskDivisor / GiB) * GiB;
  if (raw < floor) {
    return { value: floor, source: 'builtin', detail: `floor of ${formatSize(floor)}; state fs/${diskDivisor} = ${formatSize(raw || 0)}` };
  }
  if (raw > diskCapBytes) return { value: diskCapBytes, source: 'host', detail: `state fs/${diskDivisor}, capped at ${formatSize(diskCapBytes)}` };
  return { value: raw, source: 'host', detail: `state fs/${diskDivisor}` };
}

function safeStateDir(): string | undefined {
  try {
    return resolvePaths().stateDir;
  } catch {
    return undefined;
  }
}

function fileSystemBytes(dir: string | undefined): number | undefined {
  let current = dir;
  while (current) {
    try {
      const stats = statfsSync(current);
      return stats.blocks * stats.bsize;
    } catch {
      const parent = dirname(current);
      if (parent === current) return undefined;
      current = parent;
    }
  }
  return undefined;
}
