import { installHint } from '@banger/host';
import { parseVersion } from '@banger/hypervisor';
import type { CheckContext } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

/**
 * qemu-system-x86_64 (`qemu_bin` or PATH) with the `microvm` machine type,
 * which banger's QEMU driver boots. Required only for `hypervisor = "qemu"`;
 * under `auto` the hypervisor check says whether anything usable is left.
 */
export function qemuCheck(ctx: CheckContext): DoctorCheck {
  const required = ctx.config.hypervisor === 'qemu';
  const missing = required ? 'fail' : 'warn';
  return {
    id: 'qemu',
    title: 'qemu-system-x86_64',
    required,
    async run() {
      const configured = ctx.config.qemuBin;
      const binary = lookup(ctx.env, configured ?? 'qemu-system-x86_64');
      if (!binary) {
        const what = configured ? `qemu_bin = "${configured}" is not an executable file` : 'not found on PATH';
        return { status: missing, detail: `${what} (the fallback when Firecracker cannot run)`, hint: installHint('qemu-system-x86_64') };
      }
      const [versionResult, machines] = await Promise.all([
        ctx.env.exec(binary, ['--version'], { timeoutMs: 10_000 }),
        ctx.env.exec(binary, ['-machine', 'help'], { timeoutMs: 10_000 }),
      ]);
      const version = parseVersion(versionResult.stdout) ?? 'unknown version';
      if (machines.exitCode !== 0 || !/^microvm\s/m.test(machines.stdout)) {
        return {
          status: missing,
          detail: `${binary} (${version}) has no microvm machine type`,
          hint: `use a QEMU ≥ 4.2 built with microvm support: ${installHint('qemu-system-x86_64')}`,
        };
      }
      return { status: 'ok', detail: `${binary}, version ${version}, microvm supported` };
    },
  };
}
