import type { CliContext } from '../../context.js';
import { toJson } from '../../output/format.js';
import { streamedCall } from '../streamed-call.js';

/** `banger vm start NAME [--explain]`: runs the VM's graph again — boots a stopped VM and waits for ssh (progress like create). */
export async function startCommand(ctx: CliContext, name: string, options: { json?: boolean; explain?: boolean }): Promise<void> {
  const { vm } = await streamedCall(ctx, 'vm.start', { name }, options);
  // With --explain the plan is all that is printed.
  if (!options.json && vm) ctx.out(`vm ${vm.name} is running at ${vm.ip ?? '(no address)'}`);
}

/** `banger vm suspend NAME`: the VM frozen into its directory; the hypervisor ends. */
export async function suspendCommand(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const vm = await client.call('vm.suspend', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(vm) : `vm ${vm.name} is ${vm.state}${vm.stateReason ? ` (${vm.stateReason})` : ''}; banger vm resume ${vm.name} continues it`);
}

/** `banger vm resume NAME`: `vm start` of a suspended VM (it continues from its saved state; a stopped one boots). */
export async function resumeCommand(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { vm } = await streamedCall(ctx, 'vm.start', { name }, options);
  if (!options.json && vm) ctx.out(`vm ${vm.name} is running at ${vm.ip ?? '(no address)'}`);
}

/** `banger vm restart NAME [--force]`. */
export async function restartCommand(ctx: CliContext, name: string, options: { json?: boolean; force?: boolean }): Promise<void> {
  const vm = await streamedCall(ctx, 'vm.restart', { name, ...(options.force ? { force: true } : {}) }, options);
  if (!options.json) ctx.out(`vm ${vm.name} restarted; running at ${vm.ip ?? '(no address)'}`);
}

/** `banger vm stop NAME [--force]`: graceful unless --force (then killed at once). */
export async function stopCommand(ctx: CliContext, name: string, options: { json?: boolean; force?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const vm = await client.call('vm.stop', { name, ...(options.force ? { force: true } : {}) }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(vm) : `vm ${vm.name} is ${vm.state}${vm.stateReason ? ` (${vm.stateReason})` : ''}`);
}

/** `banger vm delete NAME… [--force]`: each VM is stopped first (killed with --force), then removed with everything it owns. */
export async function deleteCommand(ctx: CliContext, names: string[], options: { json?: boolean; force?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const results = [];
  for (const name of names) {
    const result = await client.call('vm.delete', { name, ...(options.force ? { force: true } : {}) }, { signal: ctx.signal });
    results.push(result);
    if (!options.json) ctx.out(`deleted vm ${result.name}`);
  }
  if (options.json) ctx.out(toJson(results));
}
