import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFileAtomic } from '@banger/host';
import { savedStateFiles, type VmSpec as DriverSpec } from '@banger/hypervisor';
import type { VmDir } from './vm-dir.js';

/** What a VM's hypervisor was started with: a saved state is only valid for exactly the same. */
export interface BootedWith {
  binary: string;
  spec: DriverSpec;
}

/** `suspend.json`: written before the state file, so a state file always has one. */
export interface SuspendMeta {
  format: 1;
  suspendedAt: string;
  bootedWith: BootedWith | null;
}

/** Records what the hypervisor was just started with (read back by `vm suspend`). */
export async function recordBootedWith(dir: VmDir, bootedWith: BootedWith): Promise<void> {
  await writeFileAtomic(dir.specFile, `${JSON.stringify(bootedWith, null, 2)}\n`, 0o600);
}

export function readBootedWith(dir: VmDir): BootedWith | null {
  try {
    return JSON.parse(readFileSync(dir.specFile, 'utf8')) as BootedWith;
  } catch {
    return null;
  }
}

export async function writeSuspendMeta(dir: VmDir, meta: SuspendMeta): Promise<void> {
  await writeFileAtomic(dir.suspendMeta, `${JSON.stringify(meta, null, 2)}\n`, 0o600);
}

/**
 * The saved state of a suspended VM and its size (all its files: Firecracker
 * keeps the guest memory beside the state), when there is one: the state file
 * is the last one written, so it marks a complete set.
 */
export function savedState(dir: VmDir): { path: string; bytes: number; meta: SuspendMeta | null } | undefined {
  if (!existsSync(dir.suspendState)) return undefined;
  let meta: SuspendMeta | null = null;
  try {
    meta = JSON.parse(readFileSync(dir.suspendMeta, 'utf8')) as SuspendMeta;
  } catch {
    meta = null;
  }
  const bytes = savedStateFiles(dir.suspendState).reduce((sum, path) => sum + (existsSync(path) ? statSync(path).size : 0), 0);
  return { path: dir.suspendState, bytes, meta };
}

/**
 * Why a saved state cannot be resumed under `now`, or undefined when it can.
 * QEMU itself refuses a state whose devices differ; this catches what it
 * would accept wrongly or explain badly (another kernel, size or binary).
 */
export function whyNotResumable(meta: SuspendMeta | null, now: BootedWith): string | undefined {
  if (!meta || meta.format !== 1) return 'its description (suspend.json) is missing or unreadable';
  if (!meta.bootedWith) return 'it does not say what the VM was started with';
  if (meta.bootedWith.binary !== now.binary) return `it was saved by ${meta.bootedWith.binary}, not ${now.binary}`;
  const was = meta.bootedWith.spec;
  for (const key of ['vcpu', 'memoryMib', 'kernel', 'bootArgs', 'disks'] as const) {
    if (JSON.stringify(was[key]) !== JSON.stringify(now.spec[key])) return `the VM's ${key} changed since it was suspended`;
  }
  // The tap may differ (the driver contract attaches a restored VM to the spec's tap); the MAC is guest state.
  if (was.net?.mac !== now.spec.net?.mac) return "the VM's MAC address changed since it was suspended";
  return undefined;
}

/** Removes the saved state (after a resume, or when it cannot be used). */
export function discardSavedState(dir: VmDir): void {
  // The state file first: without it the rest is no saved state. A restored Firecracker
  // still maps the memory file; unlinking leaves its inode to that process until it ends.
  for (const path of savedStateFiles(dir.suspendState)) rmSync(path, { force: true });
  rmSync(dir.suspendMeta, { force: true });
}
