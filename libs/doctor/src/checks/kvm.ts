import type { CheckContext, KvmFinding } from '../context.js';
import { lastLine } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

const KVM = '/dev/kvm';
const FALLBACK = 'banger falls back to QEMU with TCG emulation, which works but is 10–50× slower';
const ENABLE_HINT = 'enable VT-x/AMD-V in the firmware and load kvm_intel or kvm_amd (on a cloud VM: enable nested virtualization)';

function unusable(problem: string, hint: string): KvmFinding {
  return { usable: false, problem, outcome: { status: 'warn', detail: `${problem}; ${FALLBACK}`, hint } };
}

/**
 * Decides whether KVM can run guests here, going further than the device's
 * permissions: a VM without nested virtualisation can have a /dev/kvm node
 * while its CPU lacks VT-x/AMD-V (the rule `kvmProblem()` in
 * @banger/hypervisor applies), and QEMU then aborts with "failed to set MSR".
 * When the flags are there, QEMU is started stopped (`-S`) with the exact
 * accelerator and CPU flags banger's driver boots with, and asked to quit.
 */
export async function probeKvm(ctx: Pick<CheckContext, 'env' | 'config'>): Promise<KvmFinding> {
  const { env } = ctx;
  const kind = env.fileKind(KVM);
  if (kind === undefined) return unusable(`${KVM} does not exist`, ENABLE_HINT);
  if (kind !== 'char-device') return unusable(`${KVM} is not a character device`, `remove the stray ${KVM} and load the kvm module`);
  if (!env.canReadWrite(KVM)) {
    return unusable(`${KVM} exists but uid ${env.uid} cannot open it read-write`, 'add yourself to the kvm group (sudo usermod -aG kvm "$USER") and log in again');
  }
  const cpuinfo = env.cpuinfo();
  if (cpuinfo && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
    return unusable(`${KVM} exists but the CPU exposes no VT-x/AMD-V (no vmx/svm flag in /proc/cpuinfo; nested virtualisation is off)`, ENABLE_HINT);
  }
  const qemu = lookup(env, ctx.config.qemuBin ?? 'qemu-system-x86_64');
  if (!qemu) return { usable: true, outcome: { status: 'ok', detail: `${KVM} is accessible and the CPU has VT-x/AMD-V (not test-started: no QEMU to try it with)` } };
  const result = await env.exec(
    qemu,
    ['-accel', 'kvm', '-cpu', 'host', '-M', 'microvm', '-m', '64', '-S', '-nodefaults', '-display', 'none', '-monitor', 'stdio'],
    { input: 'quit\n', timeoutMs: 20_000 },
  );
  if (result.exitCode === 0) return { usable: true, outcome: { status: 'ok', detail: `${KVM} works: QEMU set up a KVM microvm with -cpu host` } };
  const why = result.stderr.match(/error: (.+)/)?.[1] ?? (lastLine(result.stderr) || `qemu exit ${result.exitCode}`);
  return unusable(`${KVM} is accessible but KVM cannot run a guest (${why})`, 'enable VT-x/AMD-V in the firmware (on a cloud VM: nested virtualization), then reload the kvm module');
}

/** /dev/kvm: not required, because QEMU/TCG runs VMs without it. */
export function kvmCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'kvm',
    title: '/dev/kvm',
    required: false,
    run: async () => (await ctx.kvm()).outcome,
  };
}
