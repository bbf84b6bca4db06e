import { dirname, join } from 'node:path';
import { debianSource, userKeyFile, type BangerConfig } from '@banger/config';
import type { VmHandle } from '@banger/hypervisor';
import type { ImageHome } from '@banger/images';
import type { KernelHome } from '@banger/kernels';
import { resolveImageEntry, resolveKernelEntry } from '@banger/oci';
import { ImagesTable, KernelsTable, type Database } from '@banger/store';
import type { GraphRunner, StepLogger } from '@banger/taskgraph';
import { VmDir } from './vm-dir.js';
import { VmRepository, type VmRecord } from './vm-record.js';
import type { VmWatcher } from './watcher.js';
import type { AgentLinks } from './agent/agent-links.js';
import type { RuntimeSources } from './agent/runtime-disk.js';

/** The directories the VM layer uses (a subset of @banger/config's BangerPaths). */
export interface VmPaths {
  vmsDir: string;
  sshDir: string;
  knownHostsFile: string;
  managedKeyFile: string;
  kernelsDir: string;
  imagesDir: string;
  cacheDir: string;
}

/**
 * Everything VM steps and commands act on: the database, paths, the config
 * (re-read by the caller when it should pick up edits), a logger and the
 * process watcher. The daemon builds one per request from its context.
 */
export interface VmEnv {
  db: Database;
  paths: VmPaths;
  config: BangerConfig;
  log: StepLogger;
  watcher: VmWatcher;
  /** The daemon's graph runner: a VM's fetch steps run the kernel/image pull graphs through it (same locks as `kernel pull` / `image pull`). */
  runGraph: GraphRunner;
  /**
   * The guest agent: the daemon's connections, and what the runtime disk is
   * built from (its node, the agent bundle beside the daemon) and where it is
   * kept. Absent (tests of other parts): VMs boot without the agent.
   */
  agent?: { links: AgentLinks; runtime?: RuntimeSources & { dir: string } };
}

export const vmRepository = (env: Pick<VmEnv, 'db'>): VmRepository => new VmRepository(env.db);
export const vmDirOf = (env: Pick<VmEnv, 'paths'>, name: string): VmDir => new VmDir(env.paths.vmsDir, name);
/** banger's pinned known_hosts (never the user's ~/.ssh/known_hosts). */
/** Where image rootfs files grown to a VM disk size are kept (`cloneRootfs`'s bases: derived, safe to delete). */
export const rootfsBasesDir = (env: Pick<VmEnv, 'paths'>): string => join(env.paths.cacheDir, 'rootfs-bases');
/** Spare copies of rootfs bases made ahead, in the state dir beside the VM directories (a take is a rename: disk-spare.ts). */
export const diskSparesDir = (env: Pick<VmEnv, 'paths'>): string => join(dirname(env.paths.vmsDir), 'disk-spares');
/** Work disks without file_sync entries, made once per image skeleton, key and size (work-disk-base.ts). */
export const workDiskBasesDir = (env: Pick<VmEnv, 'paths'>): string => join(env.paths.cacheDir, 'work-bases');

export const knownHostsPath = (env: Pick<VmEnv, 'paths'>): string => env.paths.knownHostsFile;
/** The host key banger authenticates with: `ssh_key_path`, else the managed `<sshDir>/id_ed25519`. */
export const userKeyPath = (env: Pick<VmEnv, 'paths' | 'config'>): string => userKeyFile(env.paths, env.config);

/** Where kernels live and are recorded (what `kernel pull` uses too). */
export const kernelHome = (env: Pick<VmEnv, 'db' | 'paths' | 'config'>): KernelHome => ({
  kernelsDir: env.paths.kernelsDir,
  cacheDir: env.paths.cacheDir,
  table: new KernelsTable(env.db),
  ...(env.config.kernelCatalogUrl ? { catalogUrl: env.config.kernelCatalogUrl } : {}),
  debian: debianSource(env.config),
  resolveOci: (entry, signal) => resolveKernelEntry(entry, { signal }),
});

/** Where images live and are recorded (what `image pull` uses too). */
export const imageHome = (env: Pick<VmEnv, 'db' | 'paths' | 'config'>): ImageHome => ({
  imagesDir: env.paths.imagesDir,
  cacheDir: env.paths.cacheDir,
  table: new ImagesTable(env.db),
  ...(env.config.catalogUrl ? { catalogUrl: env.config.catalogUrl } : {}),
  debian: debianSource(env.config),
  resolveOci: (entry, signal) => resolveImageEntry(entry, { signal }),
});

export { driverFor } from './driver-for.js';

/** The handle of the VM's recorded hypervisor process, when one is recorded. */
export function handleOf(env: Pick<VmEnv, 'paths'>, vm: VmRecord): VmHandle | undefined {
  if (vm.pid === undefined || vm.pidStartTime === undefined) return undefined;
  return { kind: vm.spec.hypervisor.kind, pid: vm.pid, startTime: vm.pidStartTime, vmDir: vmDirOf(env, vm.name).root };
}
