import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '@banger/hypervisor';
import { listLinks, removeTap, TAP_PREFIX, tapNameFor, tapOwnerKey, tapOwnerOf } from '@banger/network';
import { IpLeasesTable } from '@banger/store';
import { isGraphRunning, SqliteStepStateStore } from '@banger/taskgraph';
import { removeVm } from './vm-lifecycle.js';
import { handleOf, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import { vmGraphId } from './vm-graph.js';
import { processesMentioning } from './processes-mentioning.js';

/** The kinds of leftovers `banger doctor` reports and `doctor --fix` removes. */
export type OrphanKind = 'tap' | 'unowned-tap' | 'bridge-port' | 'vm-dir' | 'vm-row' | 'lease' | 'hypervisor' | 'runtime-disk';

/** One leaked or orphaned resource: what it is, its name, and why it counts as an orphan. */
export interface Orphan {
  kind: OrphanKind;
  name: string;
  detail: string;
}

/** Where the daemon keeps the guest agent's runtime disks (`<stateDir>/runtime`), when it builds them. */
export type RuntimeDir = string | undefined;

/**
 * Everything banger made that no VM owns any more — what a crash at the wrong
 * moment, a bug, or a hand-edited state dir can leave:
 *
 * - `tap`: a `bgr-…` tap aliased as this home's (`banger:<key>`) that no VM row names;
 * - `unowned-tap`: a `bgr-…` tap with no banger alias that no VM row names —
 *   reported, never removed: it may be another home's from before owners were
 *   recorded (taps aliased as another home's are not reported at all);
 * - `bridge-port`: a link enslaved to banger's bridge that is not a VM's tap
 *   (nor a banger tap of any home);
 * - `vm-dir`: a directory under the VMs dir with no VM row;
 * - `vm-row`: a created (running or stopped) VM whose directory is gone;
 * - `lease`: an IP lease whose VM no longer exists;
 * - `hypervisor`: a QEMU/Firecracker process whose command line points into
 *   the VMs dir but that is no VM's recorded process;
 * - `runtime-disk`: an agent runtime disk no VM's last boot used, other than the newest.
 *
 * Reads only. A VM whose creation is running right now is never an orphan.
 */
export async function findOrphans(env: VmEnv, options: { runtimeDir?: RuntimeDir } = {}): Promise<Orphan[]> {
  const orphans: Orphan[] = [];
  const vms = vmRepository(env).listAll();
  const names = new Set(vms.map((vm) => vm.name));
  const taps = new Set(vms.map((vm) => vm.tap ?? tapNameFor(vm.id)));

  const home = tapOwnerKey(env.paths.vmsDir);
  const links = await listLinks();
  for (const link of links) {
    if (taps.has(link.ifname)) continue;
    if (link.ifname.startsWith(TAP_PREFIX)) {
      const owner = tapOwnerOf(link.ifalias);
      if (owner === home) orphans.push({ kind: 'tap', name: link.ifname, detail: `tap ${link.ifname} belongs to no VM` });
      else if (owner === undefined) orphans.push({ kind: 'unowned-tap', name: link.ifname, detail: `tap ${link.ifname} has no banger owner alias: unowned, not removed` });
      // owner !== home: another banger home's tap, not ours to judge.
    } else if (link.master === env.config.bridgeName && tapOwnerOf(link.ifalias) === undefined) {
      orphans.push({ kind: 'bridge-port', name: link.ifname, detail: `${link.ifname} is a port of bridge ${env.config.bridgeName} but no VM's tap` });
    }
  }

  const vmsDir = env.paths.vmsDir;
  if (existsSync(vmsDir)) {
    for (const entry of readdirSync(vmsDir, { withFileTypes: true })) {
      if (entry.isDirectory() && !names.has(entry.name)) orphans.push({ kind: 'vm-dir', name: entry.name, detail: `${join(vmsDir, entry.name)} has no VM record` });
    }
  }
  for (const vm of vms) {
    if (vm.state !== 'creating' && !existsSync(vmDirOf(env, vm.name).root)) {
      orphans.push({ kind: 'vm-row', name: vm.name, detail: `vm ${vm.name} (${vm.state}) has no directory ${vmDirOf(env, vm.name).root}` });
    }
  }

  for (const lease of new IpLeasesTable(env.db).orphans()) {
    orphans.push({ kind: 'lease', name: lease.ip, detail: `lease of ${lease.ip} is held by ${lease.owner}, which is no VM` });
  }

  const recorded = new Set(vms.map((vm) => handleOf(env, vm)).filter((h) => h !== undefined && processAlive(h.pid, h.startTime)).map((h) => h!.pid));
  for (const { pid, args } of processesMentioning(`${vmsDir}/`)) {
    if (!recorded.has(pid) && /qemu-system|firecracker/.test(args.split(' ')[0] ?? '')) {
      orphans.push({ kind: 'hypervisor', name: String(pid), detail: `process ${pid} (${args.split(' ')[0]}) runs from ${vmsDir} but is no VM's` });
    }
  }

  if (options.runtimeDir && existsSync(options.runtimeDir)) {
    const used = new Set<string>();
    const store = new SqliteStepStateStore(env.db);
    for (const vm of vms) {
      const outputs = store.load(vmGraphId(vm.name)).get('vm.runtime-disk')?.outputs as { path?: string } | undefined;
      if (outputs?.path) used.add(outputs.path);
    }
    const disks = readdirSync(options.runtimeDir)
      .filter((f) => f.endsWith('.ext4'))
      .map((f) => join(options.runtimeDir!, f))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
    for (const disk of disks.slice(1)) {
      if (!used.has(disk)) orphans.push({ kind: 'runtime-disk', name: disk, detail: `runtime disk ${disk} is used by no VM and is not the newest` });
    }
  }
  return orphans.filter((o) => !(o.kind === 'vm-dir' && isGraphRunning(vmGraphId(o.name))));
}

/**
 * Removes what findOrphans found (`banger doctor --fix`); returns one line per
 * thing removed and one per failure (`could not …`).
 */
export async function removeOrphans(env: VmEnv, orphans: readonly Orphan[]): Promise<string[]> {
  const lines: string[] = [];
  for (const orphan of orphans) {
    try {
      switch (orphan.kind) {
        case 'tap':
        case 'bridge-port':
          await removeTap(orphan.name);
          break;
        case 'unowned-tap':
          // Possibly another banger home's (made before taps carried an owner alias): the user decides.
          lines.push(`not removed ${orphan.kind} ${orphan.name}: no banger home claims it; if none uses it: sudo ip link del ${orphan.name}`);
          continue;
        case 'vm-dir':
          await rm(join(env.paths.vmsDir, orphan.name), { recursive: true, force: true });
          break;
        case 'vm-row': {
          const vm = vmRepository(env).find(orphan.name);
          if (vm) await removeVm(env, vm, { force: true });
          break;
        }
        case 'lease':
          new IpLeasesTable(env.db).removeOrphans();
          break;
        case 'hypervisor':
          process.kill(Number(orphan.name), 'SIGKILL');
          break;
        case 'runtime-disk':
          await rm(orphan.name, { force: true });
          break;
      }
      lines.push(`removed ${orphan.kind} ${orphan.name}`);
    } catch (error) {
      lines.push(`could not remove ${orphan.kind} ${orphan.name}: ${(error as Error).message}`);
    }
  }
  return lines;
}
