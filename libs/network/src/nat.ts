import { run, runPrivileged, serialized } from '@banger/host';
import type { EnsureResult } from './bridge.js';
import { parseSubnet } from './subnet.js';

/** The nftables table banger owns; nothing else is touched. */
export const NAT_TABLE = 'banger';

/**
 * The whole table, as nft syntax. Masquerade is keyed on addresses, not on an
 * uplink name, so it follows whichever interface the host routes out of
 * (wifi, ethernet, VPN). Forward accepts guest traffic and its replies; note
 * that another table's forward chain with policy drop (e.g. Docker's) still
 * wins, since nftables evaluates every base chain.
 */
export function natRuleset(subnetCidr: string, table = NAT_TABLE): string {
  const { cidr } = parseSubnet(subnetCidr);
  return [
    `table ip ${table} {`,
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    `    ip saddr ${cidr} ip daddr != ${cidr} masquerade`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    ip saddr ${cidr} accept`,
    `    ip daddr ${cidr} ct state established,related accept`,
    '  }',
    '}',
  ].join('\n');
}

/** The rule lines `nft list table` prints when the table is as banger wants it. */
function expectedRules(cidr: string): string[] {
  return [`ip saddr ${cidr} ip daddr != ${cidr} masquerade`, `ip saddr ${cidr} accept`, `ip daddr ${cidr} ct state established,related accept`];
}

/** The table as nft prints it, or undefined when it does not exist. */
async function listTable(table: string): Promise<string | undefined> {
  const result = await runPrivileged('nft', ['list', 'table', 'ip', table], { allowFailure: true });
  return result.exitCode === 0 ? result.stdout : undefined;
}

/**
 * Makes sure guest egress is NATed: verifies the table when present and, if
 * anything differs, replaces it in one atomic nft transaction (add + delete +
 * create, so it works whether or not the table exists). Calls for one table
 * run one at a time.
 */
export function ensureNat(options: { subnet: string; table?: string }): Promise<EnsureResult> {
  return serialized(`nat:${options.table ?? NAT_TABLE}`, () => ensureNatNow(options));
}

async function ensureNatNow(options: { subnet: string; table?: string }): Promise<EnsureResult> {
  const table = options.table ?? NAT_TABLE;
  const { cidr } = parseSubnet(options.subnet);
  const current = await listTable(table);
  if (current !== undefined) {
    // Rule lines only: drop the table/chain/hook scaffolding nft prints around them.
    const rules = current
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && l !== '}' && !/^(table|chain|type) /.test(l));
    const wanted = expectedRules(cidr);
    if (rules.length === wanted.length && wanted.every((rule) => rules.includes(rule))) return { changed: false };
  }
  const script = `add table ip ${table}\ndelete table ip ${table}\n${natRuleset(cidr, table)}\n`;
  await runPrivileged('nft', ['-f', '-'], { input: script });
  return { changed: true };
}

/** Removes banger's table (uninstall); a no-op when it is absent. */
export async function removeNat(table = NAT_TABLE): Promise<EnsureResult> {
  if ((await listTable(table)) === undefined) return { changed: false };
  await runPrivileged('nft', ['delete', 'table', 'ip', table]);
  return { changed: true };
}

/** Whether `nft` can be run at all (doctor). */
export async function nftAvailable(): Promise<boolean> {
  try {
    await run('nft', ['--version']);
    return true;
  } catch {
    return false;
  }
}
