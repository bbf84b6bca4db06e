import { InvalidArgumentError } from 'commander';
import { LIMITS, parseSize } from '@banger/config';
import type { CliContext } from '../../context.js';
import { streamedCall } from '../streamed-call.js';
import { newVmParams, type NewVmOptions } from './new-vm-options.js';

/** Flags of `banger vm create`. */
export interface CreateOptions extends NewVmOptions {
  json?: boolean;
  explain?: boolean;
}

/**
 * `banger vm create`: the daemon prints the `spec:` line (each size with where
 * it came from), then the creation graph runs with live progress and the VM
 * is left running. Running it again with the same name resumes or skips.
 */
export async function createCommand(ctx: CliContext, options: CreateOptions): Promise<void> {
  const result = await streamedCall(ctx, 'vm.create', newVmParams(options), options);
  // With --explain the plan is all that is printed.
  if (!options.json && !options.explain && result.vm) {
    ctx.out(`vm ${result.vm.name} is running at ${result.vm.ip ?? '(no address)'}; connect with: banger vm ssh ${result.vm.name}`);
  }
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
