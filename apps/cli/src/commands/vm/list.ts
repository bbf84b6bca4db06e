import type { VmDetailsWire, VmInfoWire } from '@banger/api';
import type { CliContext } from '../../context.js';
import { formatUptime } from '@banger/host';
import { keyValues, toJson } from '../../output/format.js';
import { formatBytes } from '../../progress/index.js';
import { formatTable } from '../kernel/format-table.js';

/** `banger vm list [--json]`: name, state, IP, image, vcpu/mem, age. */
export async function listCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const vms = await client.call('vm.list', {}, { signal: ctx.signal });
  if (options.json) return ctx.out(toJson(vms));
  if (vms.length === 0) return ctx.out('no VMs (hint: banger vm create --name sandbox)');
  ctx.out(formatVmTable(vms, Date.now()));
}

/** The `vm list` table; `now` is injected for tests. */
export function formatVmTable(vms: readonly VmInfoWire[], now: number): string {
  return formatTable(
    ['NAME', 'STATE', 'IP', 'IMAGE', 'VCPU', 'MEM', 'AGE'],
    vms.map((vm) => [
      vm.name,
      vm.state === 'creating' && vm.stateReason?.startsWith('creation interrupted') ? 'creating (interrupted)' : vm.state,
      vm.ip ?? '',
      vm.image,
      String(vm.vcpu),
      `${vm.memoryMib} MiB`,
      formatUptime(Math.max(0, now - Date.parse(vm.createdAt))),
    ]),
  );
}

/** `banger vm show NAME [--json]`. */
export async function showCommand(ctx: CliContext, name: string, options: { json?: boolean }): Promise<void> {
  const { client } = await ctx.daemon();
  const vm = await client.call('vm.show', { name }, { signal: ctx.signal });
  ctx.out(options.json ? toJson(vm) : formatVmDetails(vm));
}

export function formatVmDetails(vm: VmDetailsWire): string {
  const h = vm.hypervisorDetails;
  const rows: Array<[string, string]> = [
    ['state', `${vm.state}${vm.stateReason ? ` (${vm.stateReason})` : ''}`],
    ['id', vm.id],
    ['image', vm.image],
    ['kernel', vm.kernel],
    ['vcpu', vm.sizing.vcpu],
    ['memory', vm.sizing.memoryMib],
    ['disk', `${formatBytes(vm.diskBytes)} ${vm.sizing.diskBytes.replace(/^\d+ bytes /, '')}`],
    ['ip', vm.ip ?? '-'],
    ['mac', vm.mac ?? '-'],
    ['tap', vm.tap ?? '-'],
    ['hypervisor', `${h.kind}${h.version ? ` ${h.version}` : ''} (${h.accel}) ${h.binary}${vm.pid !== undefined ? `, pid ${vm.pid}` : ''}`],
    ['why', h.reason],
    ...(h.warning ? ([['warning', h.warning]] as Array<[string, string]>) : []),
    ['dir', vm.dir],
    ['console', vm.consoleLog],
    ['created', vm.createdAt],
    ['file_sync', vm.fileSync.length ? vm.fileSync.map((f) => `${f.host} → ${f.guest}${f.mode ? ` (${f.mode})` : ''}`).join('; ') : 'none'],
  ];
  return [`vm ${vm.name}`, keyValues(rows)].join('\n');
}
