import { formatSize, MiB, type HostFacts, type ResolvedVmDefaults } from '@banger/config';
import type { DoctorCheck } from '../types.js';

/**
 * Configured `[vm_defaults]` that exceed the host: a VM asking for more vCPUs
 * or RAM than the host has boots, but thrashes or gets OOM-killed. Only
 * config values can do this; the heuristics stay within the host by design.
 */
export function vmDefaultsCheck(defaults: () => ResolvedVmDefaults, host: () => HostFacts): DoctorCheck {
  return {
    id: 'vm-defaults',
    title: 'vm_defaults',
    required: false,
    async run() {
      const { vcpu, memoryMib } = defaults();
      const facts = host();
      const problems: string[] = [];
      if (vcpu.value > facts.cpus) problems.push(`vcpu = ${vcpu.value} but the host has ${facts.cpus} CPUs`);
      if (memoryMib.value > facts.memoryMib) problems.push(`memory_mib = ${memoryMib.value} but the host has ${formatSize(facts.memoryMib * MiB)} of RAM`);
      if (problems.length) return { status: 'warn', detail: problems.join('; '), hint: 'lower [vm_defaults] in config.toml, or pass --vcpu/--memory per VM' };
      return { status: 'ok', detail: 'fit this host (see the table below)' };
    },
  };
}
