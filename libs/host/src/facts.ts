import { accessSync, constants, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

/**
 * /dev/kvm exists, this process can open it read-write, and the CPU exposes
 * hardware virtualisation. The last check matters: some nested hosts ship a
 * /dev/kvm whose guests then die with "failed to set MSR".
 */
export function kvmUsable(cpuinfo = readProcCpuinfo()): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
}

/**
 * The host TSC frequency in kHz, for `tsc_early_khz=` on TCG guests: under
 * TCG the guest TSC is the host's, and without the hint a loaded host can make
 * the guest's calibration fail and hang forever (measured on microvm, which has
 * no HPET or PM timer to fall back on).
 */
export function hostTscKhz(cpuinfo = readProcCpuinfo()): number | undefined {
  const match = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  if (!match?.[1]) return undefined;
  const khz = Math.round(Number.parseFloat(match[1]) * 1000);
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}

export const hostCpuCount = (): number => availableParallelism();
export const hostMemoryMiB = (): number => Math.floor(totalmem() / (1024 * 1024));

function readProcCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}
