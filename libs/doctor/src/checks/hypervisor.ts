import { BangerError } from '@banger/errors';
import { parseVersion, selectHypervisor, whyNoWarmStart } from '@banger/hypervisor';
import type { CheckContext } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck, DoctorHypervisor } from '../types.js';

/**
 * Asks the same `selectHypervisor` the daemon uses which hypervisor the config
 * resolves to, with the doctor's environment as the probe (so a fake PATH or a
 * broken /dev/kvm count here exactly as they would at `vm create`).
 */
export async function probeHypervisor(ctx: Pick<CheckContext, 'config' | 'env' | 'kvm'>): Promise<DoctorHypervisor> {
  const { config, env } = ctx;
  const kvm = await ctx.kvm();
  const preference = config.hypervisor;
  try {
    const choice = await selectHypervisor({
      preference,
      ...(config.firecrackerBin ? { firecrackerBin: config.firecrackerBin } : {}),
      ...(config.qemuBin ? { qemuBin: config.qemuBin } : {}),
      probe: {
        kvmProblem: () => (kvm.usable ? undefined : (kvm.problem ?? 'KVM is not usable')),
        findExecutable: (name) => lookup(env, name),
        versionOutput: async (binary) => {
          const result = await env.exec(binary, ['--version'], { timeoutMs: 10_000 });
          return result.exitCode === 0 ? `${result.stdout}\n${result.stderr}` : undefined;
        },
      },
    });
    return { preference, usable: true, ...choice };
  } catch (error) {
    if (!(error instanceof BangerError)) throw error;
    return { preference, usable: false, error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } };
  }
}

/** Which hypervisor new VMs get, and why. Required: without one no VM can start. */
export function hypervisorCheck(ctx: CheckContext): DoctorCheck {
  return {
    id: 'hypervisor',
    title: `hypervisor (${ctx.config.hypervisor})`,
    required: true,
    async run() {
      const choice = await ctx.hypervisor();
      if (!choice.usable) return { status: 'fail', detail: choice.error.message, ...(choice.error.hint ? { hint: choice.error.hint } : {}) };
      const version = choice.version ?? parseVersion(choice.binary) ?? '';
      const what = `${choice.kind} with ${choice.accel.toUpperCase()}, ${choice.binary}${version ? ` ${version}` : ''}: ${choice.reason}`;
      if (choice.warning) {
        return { status: 'warn', detail: what, hint: `${choice.warning}; make /dev/kvm usable (see above) for full speed` };
      }
      // `vm run` then boots every VM cold without saying so each time: this is where it is said.
      const noWarm = ctx.config.warmStart === false ? undefined : whyNoWarmStart(choice);
      if (noWarm) return { status: 'warn', detail: `${what}; warm start is off: ${noWarm}`, hint: 'install a newer Firecracker for warm start, or set warm_start = false to silence this' };
      return { status: 'ok', detail: what };
    },
  };
}
