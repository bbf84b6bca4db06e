// What a banger installation leaves on the host, as a comparable snapshot:
// take one before a case and one after it (once the follow-up command has
// resumed or cleaned up) and compare them with toEqual. Every field is a
// sorted list of strings, so a difference names the leaked thing itself.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { run } from '@banger/host';
import { openDatabase } from '@banger/store';

export interface HostSnapshot {
  /** Processes whose command line mentions this BANGER_HOME other than bangerd itself (QEMU guests, helpers), and every child of this home's bangerd. */
  processes: string[];
  /** Links named like banger's taps (`bgr-…`). */
  taps: string[];
  /** Links enslaved to a bridge, as `port@bridge`. */
  bridgePorts: string[];
  /** nft rules (family table chain: expression), counters and handles dropped. */
  nftRules: string[];
  /** `ip_leases` rows as `ip owner` (the VM id). */
  leases: string[];
  /** `vms` rows as `name state`. */
  vmRows: string[];
  /** `step_state` graph ids of VM graphs (`vm:<name>`). */
  vmGraphs: string[];
  /** Mount points (from /proc/self/mountinfo) that mention this BANGER_HOME. */
  mounts: string[];
  /** Loop devices whose backing file is under this BANGER_HOME. */
  loops: string[];
  /** The VM directories (`state/vms/<name>`), empty or not. */
  vmDirs: string[];
  /** Every file under the state and cache dirs, except the database, its journal and the log (which change by design). */
  files: string[];
}

/** Files that change on every command and are no leak: the SQLite database and journal, the daemon log and its rotation. */
const CHANGING = /^(banger\.db(-wal|-shm|-journal)?|bangerd\.log(\.\d+)?)$/;

/** Every file (not directory: `cache/bundles/downloads/` may stay, empty) under `root`, relative to it. */
function walk(root: string, base = root, out: string[] = []): string[] {
  if (!existsSync(root)) return out;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) {
      walk(path, base, out);
    } else if (!(root === base && CHANGING.test(entry.name))) {
      out.push(relative(base, path));
    }
  }
  return out;
}

function sqliteRows(dbFile: string): { leases: string[]; vmRows: string[]; vmGraphs: string[] } {
  if (!existsSync(dbFile)) return { leases: [], vmRows: [], vmGraphs: [] };
  const db = openDatabase(dbFile);
  try {
    const leases = (db.prepare('SELECT ip, owner FROM ip_leases').all() as Array<{ ip: string; owner: string }>).map((r) => `${r.ip} ${r.owner}`);
    const vmRows = (db.prepare('SELECT name, state FROM vms').all() as Array<{ name: string; state: string }>).map((r) => `${r.name} ${r.state}`);
    const vmGraphs = (db.prepare("SELECT DISTINCT graph_id FROM step_state WHERE graph_id LIKE 'vm:%' OR graph_id LIKE 'vm-start:%'").pluck().all() as string[]);
    return { leases: leases.sort(), vmRows: vmRows.sort(), vmGraphs: vmGraphs.sort() };
  } finally {
    db.close();
  }
}

function environOf(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** nft's JSON rules as stable one-liners: handles and counter values change without meaning anything. */
function nftRules(json: string): string[] {
  const parsed = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>).filter(([key]) => key !== 'handle');
      return Object.fromEntries(entries.map(([key, v]) => [key, key === 'counter' ? {} : strip(v)]));
    }
    return value;
  };
  return (parsed.nftables ?? [])
    .filter((item) => 'rule' in item)
    .map((item) => {
      const rule = item['rule'] as { family: string; table: string; chain: string; expr: unknown };
      return `${rule.family} ${rule.table} ${rule.chain}: ${JSON.stringify(strip(rule.expr))}`;
    })
    .sort();
}

/** Takes the snapshot of everything a banger at `home` (its BANGER_HOME) may leave on this host. */
export async function snapshotHost(home: string): Promise<HostSnapshot> {
  const ps = (await run('ps', ['-eo', 'pid=,ppid=,args='])).stdout
    .split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: m[1]!, ppid: m[2]!, args: m[3]! }));
  // This home's daemons only (other suites may run theirs on the same host): told by their environment.
  const daemons = new Set(ps.filter((p) => p.args.includes('bangerd') && environOf(p.pid).includes(`BANGER_HOME=${home}`)).map((p) => p.pid));
  const processes = ps
    .filter((p) => !daemons.has(p.pid) && !p.args.includes('bangerd') && (daemons.has(p.ppid) || p.args.includes(home)))
    .filter((p) => !/^(ps|sh -c|bash -c)\b/.test(p.args))
    // The daemon probes QEMU's version and machines on each creation: short-lived, no leak.
    .filter((p) => !/ (--version|-machine help)$/.test(p.args))
    // The daemon's spare disk copy, made in the background after a VM's graph (disk-spare.ts); daemon stop ends it.
    .filter((p) => !/(^|\s)cp --sparse=always \S+ \S+\/state\/disk-spares\//.test(p.args))
    .map((p) => p.args)
    .sort();

  const links = JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout) as Array<{ ifname: string; master?: string }>;
  const taps = links.map((l) => l.ifname).filter((n) => n.startsWith('bgr-')).sort();
  const bridgePorts = links.filter((l) => l.master).map((l) => `${l.ifname}@${l.master}`).sort();

  const nft = await run('nft', ['-j', 'list', 'ruleset']);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(home))
    .map((line) => line.split(' ')[4] ?? line)
    .sort();
  const losetup = await run('losetup', ['-J', '-l'], { allowFailure: true });
  const loops = losetup.stdout.trim()
    ? (JSON.parse(losetup.stdout) as { loopdevices: Array<{ name: string; 'back-file': string | null }> }).loopdevices
        .filter((l) => (l['back-file'] ?? '').includes(home))
        .map((l) => `${l.name} ${l['back-file']}`)
        .sort()
    : [];

  const vmsDir = join(home, 'state', 'vms');
  const vmDirs = existsSync(vmsDir) ? readdirSync(vmsDir).sort() : [];
  // cache/code-cache is the CLI's compiled code (written by the first CLI start, not by what is checked for leaks).
  const cacheFiles = walk(join(home, 'cache')).filter((f) => !f.startsWith('code-cache/'));
  // state/disk-spares is made ahead by the daemon after a VM's graph ends, in the background: when it lands is not the case's doing.
  const stateFiles = walk(join(home, 'state')).filter((f) => !f.startsWith('disk-spares/'));
  const files = [...stateFiles.map((f) => `state/${f}`), ...cacheFiles.map((f) => `cache/${f}`)].sort();
  return { processes, taps, bridgePorts, nftRules: nftRules(nft.stdout), ...sqliteRows(join(home, 'state', 'banger.db')), mounts, loops, vmDirs, files };
}

/** The differences between two snapshots, as `+ field: item` / `- field: item` lines (empty: nothing leaked or lost). */
export function diffSnapshots(before: HostSnapshot, after: HostSnapshot): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(before) as Array<keyof HostSnapshot>) {
    const was = new Set(before[key]);
    const now = new Set(after[key]);
    for (const item of now) if (!was.has(item)) lines.push(`+ ${key}: ${item}`);
    for (const item of was) if (!now.has(item)) lines.push(`- ${key}: ${item}`);
  }
  return lines;
}

/** Whether a path exists and is a directory (for callers that check VM dirs). */
export const isDir = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();
