import { findExecutable, hostCpuCount, hostMemoryMiB, kvmUsable, run } from '@banger/host';
import { release } from 'node:os';

/** Where the numbers were measured; printed above the table (issue 11). */
export interface BenchEnvironment {
  readonly hypervisor: string;
  readonly accel: 'kvm' | 'tcg';
  readonly cores: number;
  readonly memoryMiB: number;
  readonly node: string;
  readonly kernel: string;
  readonly date: string;
}

/** Detects the hypervisor banger would use here (Firecracker if installed, else QEMU) and the acceleration. */
export async function detectEnvironment(): Promise<BenchEnvironment> {
  return {
    hypervisor: (await versionOf('firecracker')) ?? (await versionOf('qemu-system-x86_64')) ?? 'none found',
    accel: kvmUsable() ? 'kvm' : 'tcg',
    cores: hostCpuCount(),
    memoryMiB: hostMemoryMiB(),
    node: process.version,
    kernel: release(),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** The one-line form: `hypervisor: … · accel: tcg · cores: 2 · …`. */
export function formatEnvironment(env: BenchEnvironment): string {
  return [
    `hypervisor: ${env.hypervisor}`,
    `accel: ${env.accel}`,
    `cores: ${env.cores}`,
    `memory: ${env.memoryMiB} MiB`,
    `node: ${env.node}`,
    `kernel: ${env.kernel}`,
    `date: ${env.date}`,
  ].join(' · ');
}

async function versionOf(binary: string): Promise<string | undefined> {
  const path = findExecutable(binary);
  if (!path) return undefined;
  const result = await run(path, ['--version'], { allowFailure: true, timeoutMs: 5000 }).catch(() => undefined);
  const first = result?.stdout.split('\n')[0]?.trim();
  return first ? `${binary} (${first})` : binary;
}
