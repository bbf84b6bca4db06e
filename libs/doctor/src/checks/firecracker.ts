import { MIN_FIRECRACKER_VERSION, parseVersion, versionAtLeast } from '@banger/hypervisor';
import type { CheckContext } from '../context.js';
import { lookup } from '../env.js';
import type { DoctorCheck } from '../types.js';

const INSTALL = `install Firecracker ≥ ${MIN_FIRECRACKER_VERSION} from https://github.com/firecracker-microvm/firecracker/releases onto PATH, or set firecracker_bin in config.toml`;

/**
 * The Firecracker binary (`firecracker_bin` or PATH) and its version: ≥ 1.8 is
 * needed because the Debian kernel finds virtio-mmio devices through ACPI.
 * Required only when the config insists on `hypervisor = "firecracker"`.
 */
export function firecrackerCheck(ctx: CheckContext): DoctorCheck {
  const required = ctx.config.hypervisor === 'firecracker';
  const missing = required ? 'fail' : 'warn';
  const fallback = required ? '' : '; banger uses QEMU instead';
  return {
    id: 'firecracker',
    title: 'firecracker',
    required,
    async run() {
      const configured = ctx.config.firecrackerBin;
      const binary = lookup(ctx.env, configured ?? 'firecracker');
      if (!binary) {
        const what = configured ? `firecracker_bin = "${configured}" is not an executable file` : 'not found on PATH';
        return { status: missing, detail: `${what}${fallback}`, hint: INSTALL };
      }
      const result = await ctx.env.exec(binary, ['--version'], { timeoutMs: 10_000 });
      const version = parseVersion(`${result.stdout}\n${result.stderr}`);
      if (result.exitCode !== 0 || !version) {
        return { status: missing, detail: `${binary} --version failed, so its version is unknown${fallback}`, hint: INSTALL };
      }
      if (!versionAtLeast(version, MIN_FIRECRACKER_VERSION)) {
        return {
          status: missing,
          detail: `${binary} is Firecracker ${version}; banger needs ≥ ${MIN_FIRECRACKER_VERSION} (ACPI virtio-mmio discovery for the Debian kernel)${fallback}`,
          hint: INSTALL,
        };
      }
      const kvm = await ctx.kvm();
      return { status: 'ok', detail: `${binary}, version ${version}${kvm.usable ? '' : ' (unused here: it needs a usable /dev/kvm)'}` };
    },
  };
}
