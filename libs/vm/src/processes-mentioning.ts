import { readdirSync, readFileSync } from 'node:fs';

/** Processes whose command line contains `needle` (from /proc, no `ps`). */
export function processesMentioning(needle: string): Array<{ pid: number; args: string }> {
  const found: Array<{ pid: number; args: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      if (args.includes(needle)) found.push({ pid: Number(entry), args });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}
