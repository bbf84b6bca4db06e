import { type Command, InvalidArgumentError } from 'commander';
import type { NewVmParams } from '@banger/api';
import { LIMITS, parseSize } from '@banger/config';
import { nameOption } from '../../completion/resource-names.js';

/** The flags that describe a VM to create, shared by `vm create` and `vm run`. */
export interface NewVmOptions {
  name?: string;
  image?: string;
  kernel?: string;
  vcpu?: number;
  memory?: number;
  disk?: number;
  cold?: boolean;
}

/**
 * Adds --name, --image, --kernel, --vcpu, --memory and --disk. `vm run` may
 * reuse an existing VM, so it says the sizes apply to a new one (`suffix`).
 */
export function addNewVmOptions(command: Command, help: { name: string; suffix?: string }): Command {
  const suffix = help.suffix ?? '';
  return command
    .option('--name <name>', help.name)
    .addOption(nameOption('image', '--image <name>', `image${suffix} (default: default_image_name; pulled on demand)`))
    .addOption(nameOption('kernel', '--kernel <name>', `kernel${suffix} (default: the image's kernel; pulled on demand)`))
    .option('--vcpu <n>', `virtual CPUs${suffix}`, parseVcpu)
    .option('--memory <size>', `RAM${suffix} in MiB (2048) or with a unit (2G)`, parseMemory)
    .option('--disk <size>', `disk size${suffix} (8G; a bare number is GiB)`, parseDisk)
    .option('--cold', `boot${suffix ? ' a new VM' : ''} cold, not from a warm template (warm_start in config.toml)`);
}

/** The `vm.create` parameters the flags set; unset flags stay out so the daemon's defaults apply. */
export function newVmParams(options: NewVmOptions): NewVmParams {
  return {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.image !== undefined ? { image: options.image } : {}),
    ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
    ...(options.vcpu !== undefined ? { vcpu: options.vcpu } : {}),
    ...(options.memory !== undefined ? { memoryMib: options.memory } : {}),
    ...(options.disk !== undefined ? { diskBytes: options.disk } : {}),
    ...(options.cold ? { cold: true } : {}),
  };
}

/** `--vcpu N`: a whole number from 1 to 32. */
export function parseVcpu(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError('expected a whole number from 1 to 32');
  return n;
}

/** `--memory 2048` (MiB) or `--memory 2G`. */
export function parseMemory(value: string): number {
  const mib = /^\d+$/.test(value) ? Number(value) : safeSize(value) / 2 ** 20;
  // The same bounds as vm_defaults.memory_mib in config.toml.
  if (!Number.isInteger(mib) || mib < LIMITS.memoryMib.min || mib > LIMITS.memoryMib.max) {
    throw new InvalidArgumentError(`expected MiB (e.g. 2048) or a size (e.g. 2G), from ${LIMITS.memoryMib.min} MiB to ${LIMITS.memoryMib.max / 1024} GiB`);
  }
  return mib;
}

/** `--disk 8G`: a size with a unit (a bare number is GiB). */
export function parseDisk(value: string): number {
  const bytes = /^\d+$/.test(value) ? Number(value) * 2 ** 30 : safeSize(value);
  if (!Number.isSafeInteger(bytes) || bytes < 2 ** 20) throw new InvalidArgumentError('expected a size such as 8G or 16384M');
  return bytes;
}

function safeSize(value: string): number {
  try {
    return parseSize(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}
