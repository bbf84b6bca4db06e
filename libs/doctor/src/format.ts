import { formatSize, MiB } from '@banger/config';
import type { CheckStatus, DoctorReport } from './types.js';

/** How `formatDoctorReport` renders. */
export interface FormatDoctorOptions {
  /** ANSI colours (the CLI passes `stdout.isTTY && !NO_COLOR`). */
  color: boolean;
  /** Words (`ok`/`warn`/`FAIL`) instead of ✓/!/✗, for terminals without UTF-8. */
  ascii?: boolean;
}

const SYMBOL: Record<CheckStatus, string> = { ok: '✓', warn: '!', fail: '✗' };
const WORD: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
const COLOR: Record<CheckStatus, string> = { ok: '32', warn: '33', fail: '31' };

/**
 * The human form of a doctor report: one aligned line per check (status
 * mark, title, detail), its hint indented below, a verdict line, then the
 * effective vm_defaults with the provenance of each value.
 */
export function formatDoctorReport(report: DoctorReport, options: FormatDoctorOptions): string {
  const paint = (code: string, text: string) => (options.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const dim = (text: string) => paint('2', text);
  const mark = (status: CheckStatus) => paint(COLOR[status], options.ascii ? WORD[status] : SYMBOL[status]);
  const hintIndent = ' '.repeat(2 + (options.ascii ? 4 : 1) + 1);

  const lines: string[] = [`config: ${report.configSource}`, ''];
  const width = Math.max(0, ...report.checks.map((c) => c.title.length));
  for (const check of report.checks) {
    const optional = !check.required && check.status !== 'ok' ? dim(' (optional)') : '';
    lines.push(`  ${mark(check.status)} ${check.title.padEnd(width)}  ${check.detail}${optional}`);
    if (check.hint && check.status !== 'ok') lines.push(`${hintIndent}${' '.repeat(width)}  ${dim('hint:')} ${check.hint}`);
  }

  const failed = report.checks.filter((c) => c.status === 'fail' && c.required).length;
  const warned = report.checks.filter((c) => c.status === 'warn' || (c.status === 'fail' && !c.required)).length;
  lines.push('');
  if (!report.ok) {
    lines.push(paint('31', `${failed} required check${failed === 1 ? '' : 's'} failed: banger cannot run VMs on this host until ${failed === 1 ? 'it is' : 'they are'} fixed`));
  } else {
    const via = report.hypervisor.usable ? ` with ${report.hypervisor.kind}/${report.hypervisor.accel}` : '';
    lines.push(paint('32', `banger can run VMs on this host${via}`) + (warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''));
  }

  const { vcpu, memoryMib, diskBytes } = report.vmDefaults;
  const rows: Array<[string, string, string, string]> = [
    ['vcpu', String(vcpu.value), vcpu.source, vcpu.detail],
    ['memory_mib', String(memoryMib.value), memoryMib.source, memoryMib.detail],
    ['disk_size', formatSize(diskBytes.value), diskBytes.source, diskBytes.detail],
  ];
  const col = (i: 0 | 1 | 2) => Math.max(...rows.map((r) => r[i].length));
  lines.push('', 'vm_defaults (new VMs when --vcpu/--memory/--disk-size are not given):');
  for (const [key, value, source, detail] of rows) {
    lines.push(`  ${key.padEnd(col(0))}  ${value.padEnd(col(1))}  ${source.padEnd(col(2))}  ${dim(detail)}`);
  }
  const host = report.host;
  const fs = host.stateFsBytes !== undefined ? `, state fs ${formatSize(host.stateFsBytes)}` : '';
  lines.push(dim(`  host: ${host.cpus} cpus, ${formatSize(host.memoryMib * MiB)} RAM${fs}; set [vm_defaults] in config.toml to override`));
  return `${lines.join('\n')}\n`;
}
