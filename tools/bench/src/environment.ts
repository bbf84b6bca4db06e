import { findExecutable, hostCpuCount, hostMemoryMiB } from '@banger/host';
import { kvmProblem, selectHypervisor } from '@banger/hypervisor';
import { release } from 'node:os';

/** Where the numbers were measured; printed above the table (issue 11). */
export interface BenchEnvironment {
  /** What banger would boot VMs with here, e.g. `qemu 8.2.2 (/usr/bin/qemu-system-x86_64)`. */
  readonly hypervisor: string;
  readonly accel: 'kvm' | 'tcg';
  /** Why that hypervisor and accel (selectHypervisor's reason), so a `tcg` line explains itself. */
  readonly reason: string;
  readonly cores: number;
  readonly memoryMiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly date: string;
}

/**
 * Detects the hypervisor and acceleration banger itself would pick here
 * (`selectHypervisor` with `hypervisor = auto`), not merely whether /dev/kvm
 * opens: a VM without nested virtualisation has a /dev/kvm that cannot run
 * guests, and banger falls back to QEMU under TCG there.
 */
export async function detectEnvironment(): Promise<BenchEnvironment> {
  const common = {
    cores: hostCpuCount(),
    memoryMiB: hostMemoryMiB(),
    node: process.version,
    kernel: release(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  try {
    const choice = await selectHypervisor({ preference: 'auto' });
    const name = choice.kind === 'qemu' ? 'qemu' : 'firecracker';
    return {
      hypervisor: `${name}${choice.version ? ` ${choice.version}` : ''} (${choice.binary})`,
      accel: choice.accel,
      reason: choice.reason,
      ...common,
    };
  } catch (error) {
    const why = kvmProblem();
    return {
      hypervisor: findExecutable('firecracker') ?? findExecutable('qemu-system-x86_64') ?? 'none found',
      accel: why === undefined ? 'kvm' : 'tcg',
      reason: error instanceof Error ? error.message : String(error),
      ...common,
    };
  }
}

/** The one-line form: `hypervisor: … · accel: tcg (why) · cores: 2 · …`. */
export function formatEnvironment(env: BenchEnvironment): string {
  return [
    `hypervisor: ${env.hypervisor}`,
    `accel: ${env.accel}`,
    `cores: ${env.cores}`,
    `memory: ${env.memoryMiB} MiB`,
    `node: ${env.node}`,
    `kernel: ${env.kernel}`,
    `date: ${env.date}`,
  ].join(' · ') + `\n(${env.reason})`;
}
