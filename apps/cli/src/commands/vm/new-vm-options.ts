import type { Command } from 'commander';
import { nameOption } from '../../completion/resource-names.js';
import { parseDisk, parseMemory, parseVcpu } from './create.js';

/** The flags that describe a VM to create, shared by `vm create` and `vm run`. */
export interface NewVmOptions {
  name?: string;
  image?: string;
  kernel?: string;
  vcpu?: number;
  memory?: number;
  disk?: number;
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
    .option('--disk <size>', `disk size${suffix} (8G; a bare number is GiB)`, parseDisk);
}

/** The `vm.create` parameters the flags set; unset flags stay out so the daemon's defaults apply. */
export function newVmParams(options: NewVmOptions): {
  name?: string;
  image?: string;
  kernel?: string;
  vcpu?: number;
  memoryMib?: number;
  diskBytes?: number;
} {
  return {
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.image !== undefined ? { image: options.image } : {}),
    ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
    ...(options.vcpu !== undefined ? { vcpu: options.vcpu } : {}),
    ...(options.memory !== undefined ? { memoryMib: options.memory } : {}),
    ...(options.disk !== undefined ? { diskBytes: options.disk } : {}),
  };
}
