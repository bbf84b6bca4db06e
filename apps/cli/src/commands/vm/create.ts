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
