import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@banger/errors';

/**
 * The modules the initrd loads before it mounts the root disk: the virtio
 * transports (mmio for microvm/Firecracker, pci for q35), block, net, console
 * (virtio-serial agent port), rng, vsock, and ext4 where it is a module.
 */
export const DEFAULT_BOOT_MODULES: readonly string[] = [
  'virtio_mmio',
  'virtio_pci',
  'virtio_blk',
  'virtio_net',
  'virtio_console',
  'virtio_rng',
  'vmw_vsock_virtio_transport',
  'ext4',
];

/** What depmod wrote for one kernel, parsed. */
export interface ModuleIndex {
  kernelVersion: string;
  /** Module name (underscores) → path relative to lib/modules/<kver>. */
  paths: Map<string, string>;
  /** Module name → the names in its modules.dep line, as listed. */
  deps: Map<string, string[]>;
  /** Names of modules built into the kernel (modules.builtin). */
  builtin: Set<string>;
  /** Alias → module names (modules.alias, exact aliases only). */
  aliases: Map<string, string[]>;
  /** Module name → soft dependencies to load before / after it (modules.softdep). */
  softdeps: Map<string, { pre: string[]; post: string[] }>;
}

/** One module to insmod, in load order. */
export interface ResolvedModule {
  name: string;
  /** Path relative to lib/modules/<kver>, e.g. `kernel/drivers/block/virtio_blk.ko`. */
  path: string;
}

/** The outcome of resolving a module set. */
export interface ModuleResolution {
  /** Modules to load, dependencies first. */
  load: ResolvedModule[];
  /** Requested modules that are built into the kernel (nothing to load). */
  builtin: string[];
}

/** `virtio-rng.ko.xz` → `virtio_rng`: module names treat `-` and `_` alike. */
export function moduleNameOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return normaliseModuleName(base.replace(/\.ko(\.(xz|zst|gz))?$/, ''));
}

export function normaliseModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/**
 * Reads modules.dep, modules.builtin, modules.alias and modules.softdep from
 * `<root>/lib/modules/<kver>` (run depmod first when the package ships none).
 */
export async function readModuleIndex(root: string, kernelVersion: string): Promise<ModuleIndex> {
  const dir = join(root, 'lib/modules', kernelVersion);
  const depFile = join(dir, 'modules.dep');
  if (!existsSync(depFile)) {
    throw new UserError('KERNEL_NO_MODULES_DEP', `cannot resolve kernel modules: ${depFile} does not exist`, {
      hint: `run depmod -b ${root} ${kernelVersion}`,
    });
  }
  const index: ModuleIndex = {
    kernelVersion,
    paths: new Map(),
    deps: new Map(),
    builtin: new Set(),
    aliases: new Map(),
    softdeps: new Map(),
  };
  for (const line of (await readFile(depFile, 'utf8')).split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const name = moduleNameOf(path);
    index.paths.set(name, path);
    index.deps.set(name, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleNameOf));
  }
  for (const line of await readOptional(join(dir, 'modules.builtin'))) {
    if (line.trim()) index.builtin.add(moduleNameOf(line.trim()));
  }
  for (const line of await readOptional(join(dir, 'modules.alias'))) {
    const [keyword, alias, module] = line.trim().split(/\s+/);
    if (keyword !== 'alias' || !alias || !module) continue;
    const key = normaliseModuleName(alias);
    index.aliases.set(key, [...(index.aliases.get(key) ?? []), normaliseModuleName(module)]);
  }
  for (const line of await readOptional(join(dir, 'modules.softdep'))) {
    const words = line.trim().split(/\s+/);
    if (words[0] !== 'softdep' || !words[1]) continue;
    const entry = { pre: [] as string[], post: [] as string[] };
    let list: string[] | undefined;
    for (const word of words.slice(2)) {
      if (word === 'pre:') list = entry.pre;
      else if (word === 'post:') list = entry.post;
      else list?.push(normaliseModuleName(word));
    }
    index.softdeps.set(normaliseModuleName(words[1]), entry);
  }
  return index;
}

/**
 * Resolves `wanted` (module names or aliases) to the modules to insmod, in
 * load order, the way modprobe does: each module's modules.dep dependencies
 * (depth first, in reverse listing order), its softdep `pre:` modules before
 * it and `post:` after. Built-in modules are reported, not loaded. An unknown
 * name is a UserError naming it and the kernel.
 */
export function resolveModules(index: ModuleIndex, wanted: readonly string[]): ModuleResolution {
  const load: ResolvedModule[] = [];
  const builtin: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();

  const visit = (name: string): void => {
    if (done.has(name) || visiting.has(name)) return;
    const path = index.paths.get(name);
    if (!path) return;
    visiting.add(name);
    const soft = index.softdeps.get(name);
    for (const pre of soft?.pre ?? []) for (const target of lookup(pre)) visit(target);
    for (const dep of [...(index.deps.get(name) ?? [])].reverse()) visit(dep);
    visiting.delete(name);
    done.add(name);
    load.push({ name, path });
    for (const post of soft?.post ?? []) for (const target of lookup(post)) visit(target);
  };

  const lookup = (raw: string): string[] => {
    const name = normaliseModuleName(raw);
    if (index.paths.has(name) || index.builtin.has(name)) return [name];
    return index.aliases.get(name) ?? [];
  };

  for (const raw of wanted) {
    const targets = lookup(raw);
    if (targets.length === 0) {
      throw new UserError(
        'KERNEL_MODULE_NOT_FOUND',
        `cannot resolve boot module ${raw}: kernel ${index.kernelVersion} has no such module, built-in or loadable`,
        { hint: 'check the module name, or use a kernel that provides it' },
      );
    }
    for (const target of targets) {
      if (index.builtin.has(target) && !index.paths.has(target)) {
        if (!builtin.includes(target)) builtin.push(target);
      } else {
        visit(target);
      }
    }
  }
  return { load, builtin };
}

async function readOptional(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n');
  } catch {
    return [];
  }
}
