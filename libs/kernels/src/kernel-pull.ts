import type { DebianSource } from '@banger/host';
import { join } from 'node:path';
import { InternalError, NotFoundError, UserError } from '@banger/errors';
import type { KernelsTable } from '@banger/store';
import type { Graph, GraphRunOutcome, GraphRunner, Step, StepEvent } from '@banger/taskgraph';
import { KERNEL_NAME_PATTERN, kernelBundlePaths, readKernelBundle, type KernelBundlePaths, type KernelManifest } from './bundle-manifest.js';
import { buildKernelBundle } from './build-bundle.js';
import { findCatalogEntry, kernelCatalog, type KernelCatalogEntry } from './catalog.js';

import { pullKernelBundle } from './pull-bundle.js';

/**
 * Where kernels live and how they are recorded: the one owner of
 * `<kernelsDir>/<name>` and of the `kernels` table. `kernel pull`, `kernel
 * build` and a VM's `vm.fetch-kernel` all go through `pullKernel` /
 * `kernelPullGraph` with this, so they share the graph id, the lock and the
 * download cache.
 */
export interface KernelHome {
  kernelsDir: string;
  /** The host cache root: downloads and .debs go under it. */
  cacheDir: string;
  /** config `kernel_catalog_url`. */
  catalogUrl?: string;
  /** config `debian_mirror` / `debian_keyring`, for a kernel built from its recipe. */
  debian?: DebianSource;
  table: KernelsTable;
  /**
   * Resolves a catalog entry naming an `oci://` bundle to one with a
   * downloadable `bundle` (@banger/oci's resolveKernelEntry, wired by whoever
   * builds the home: this lib cannot depend on the registry client).
   */
  resolveOci?: (entry: KernelCatalogEntry, signal: AbortSignal) => Promise<{ entry: KernelCatalogEntry; headers?: Record<string, string> }>;
}

/** A kernel a VM can boot: its record and bundle paths. */
export interface KernelRef {
  name: string;
  version: string;
  paths: KernelBundlePaths;
}

/** The task-graph id (and lock key) of everything that writes kernels/<name>. */
export const kernelGraphId = (name: string): string => `kernel:${name}`;

/** Refuses a name that is not a valid kernel name. */
export function assertKernelName(name: string): void {
  if (!KERNEL_NAME_PATTERN.test(name)) {
    throw new UserError('KERNEL_BAD_NAME', `invalid kernel name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-' (at most 63)`);
  }
}

/** The registered kernel `name` whose bundle is intact, or undefined. Read-only. */
export async function findKernel(home: Pick<KernelHome, 'table'>, name: string): Promise<KernelRef | undefined> {
  const row = home.table.find(name);
  if (!row) return undefined;
  const manifest = await readKernelBundle(row.dir).catch(() => undefined);
  return manifest ? { name, version: manifest.version, paths: kernelBundlePaths(row.dir) } : undefined;
}

/**
 * Whether `vm create --kernel name` can work, checked before anything is
 * created: registered, a complete bundle in `<kernelsDir>/<name>`, or a
 * catalog entry. Otherwise a NotFoundError listing what is available.
 */
export async function assertKernelKnown(home: KernelHome, name: string, signal?: AbortSignal): Promise<void> {
  if ((await findKernel(home, name)) || (await localBundle(home, name))) return;
  const entries = await kernelCatalog(home.catalogUrl, signal);
  if (entries.some((e) => e.name === name)) return;
  throw new NotFoundError('VM_KERNEL_UNKNOWN', `kernel ${name} is neither registered nor in the catalog (registered: ${home.table.names().join(', ') || 'none'}; catalog: ${entries.map((e) => e.name).join(', ')})`, {
    hint: 'see banger kernel list and banger kernel catalog',
  });
}

/** What a pull streams and whether it only plans. */
export interface PullRun {
  signal: AbortSignal;
  emit: (event: StepEvent) => void;
  explain?: boolean;
  /** `kernel build`: build from the package even when a bundle is there. */
  rebuild?: KernelCatalogEntry['recipe'];
  /** Adopt a complete bundle already in `<kernelsDir>/<name>` without asking the catalog (a VM's fetch step: works offline). */
  adoptLocal?: boolean;
  /** Steps appended to the graph after `kernel.register` (`kernel build --publish oci://…`). */
  then?: Graph;
}

/**
 * Pulls (or builds) kernel `name` through `run` under `kernelGraphId(name)`:
 * the graph is `kernel.fetch` (or `kernel.build`) → `kernel.register`. A
 * second pull, from any caller, waits for the first and then skips.
 */
export async function pullKernel(home: KernelHome, name: string, run: GraphRunner, options: PullRun): Promise<GraphRunOutcome> {
  assertKernelName(name);
  const entry = options.rebuild
    ? { name, description: `built from ${options.rebuild.debPackage}`, recipe: options.rebuild }
    : ((options.adoptLocal ? await localEntry(home, name) : undefined) ?? findCatalogEntry(name, await kernelCatalog(home.catalogUrl, options.signal)));
  return run({
    graphId: kernelGraphId(name),
    steps: [...kernelPullGraph(home, entry, { rebuild: options.rebuild !== undefined }), ...(options.then ?? [])],
    signal: options.signal,
    emit: options.emit,
    explain: options.explain ?? false,
  });
}

/**
 * The pull graph: `kernel.fetch` (a published bundle; the lib falls back to
 * the recipe when it is unreachable) or `kernel.build` (recipe only), then
 * `kernel.register`. The fetch/build step writes kernels/<name> atomically.
 */
export function kernelPullGraph(home: KernelHome, entry: KernelCatalogEntry, options: { rebuild?: boolean } = {}): Graph {
  const dir = join(home.kernelsDir, entry.name);
  const fetchId = entry.bundle || entry.oci || !entry.recipe ? 'kernel.fetch' : 'kernel.build';
  const fetch: Step<{ version: string; outcome: string }> = {
    id: fetchId,
    title: entry.oci && !options.rebuild ? `Pull kernel ${entry.name} from ${entry.oci}` : entry.bundle ? `Download kernel ${entry.name}` : entry.recipe ? `Build kernel ${entry.name} from ${entry.recipe.debPackage}` : `Adopt kernel ${entry.name}`,
    needs: [],
    inputs: () => ({ entry: JSON.stringify({ bundle: entry.bundle ?? null, recipe: entry.recipe ?? null, ...(entry.oci ? { oci: entry.oci } : {}) }), dir }),
    isSatisfied: async () => {
      const manifest = await readKernelBundle(dir).catch(() => undefined);
      if (!manifest) return { satisfied: false, reason: `no intact bundle in ${dir}` };
      return manifest.name === entry.name || { satisfied: false, reason: `${dir} holds kernel ${manifest.name}` };
    },
    run: async (step, report) => {
      if (options.rebuild && entry.recipe) {
        // `kernel build`: an existing bundle from another package (or an older version of it) is replaced.
        const manifest = await buildKernelBundle({ debPackage: entry.recipe.debPackage, name: entry.name, outDir: dir, cacheDir: home.cacheDir, ...(home.debian ? { debian: home.debian } : {}), signal: step.signal, progress: report });
        return { version: manifest.version, outcome: 'built' };
      }
      const { entry: source, headers } = entry.oci ? await resolveOciEntry(home, entry, step.signal) : { entry, headers: undefined };
      const pulled = await pullKernelBundle({ entry: source, ...(headers ? { headers } : {}), destDir: dir, cacheDir: home.cacheDir, ...(home.debian ? { debian: home.debian } : {}), signal: step.signal, progress: report });
      return { version: pulled.manifest.version, outcome: pulled.outcome };
    },
    hint: entry.bundle || entry.oci ? 'check the network or kernel_catalog_url, then pull again' : 'check that the Debian mirror (debian_mirror) is reachable, then pull again',
  };
  const register: Step<{ version: string }> = {
    id: 'kernel.register',
    title: `Register kernel ${entry.name}`,
    needs: [fetchId],
    inputs: () => ({ dir }),
    isSatisfied: async () => {
      const row = home.table.find(entry.name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const manifest = await readKernelBundle(dir).catch(() => undefined);
      return (manifest !== undefined && row.dir === dir && row.version === manifest.version) || { satisfied: false, reason: 'the record does not match the bundle' };
    },
    run: async () => {
      const manifest = await readKernelBundle(dir);
      registerKernel(home, entry.name, dir, manifest);
      return { version: manifest.version };
    },
  };
  return [fetch, register];
}

/** The entry with its `oci://` reference resolved to a registry blob bundle. */
function resolveOciEntry(home: KernelHome, entry: KernelCatalogEntry, signal: AbortSignal): Promise<{ entry: KernelCatalogEntry; headers?: Record<string, string> }> {
  if (!home.resolveOci) {
    throw new InternalError('BUNDLE_OCI_UNAVAILABLE', `kernel ${entry.name}: the catalog names ${entry.oci}, but this process was set up without a registry client`, {
      hint: 'pull through the daemon (banger kernel pull)',
    });
  }
  return home.resolveOci(entry, signal);
}

/** Records kernel `name` as the bundle in `dir` (`kernel.register`, `kernel import`). */
export function registerKernel(home: Pick<KernelHome, 'table'>, name: string, dir: string, manifest: KernelManifest): void {
  home.table.put({ name, version: manifest.version, dir, manifest });
}

async function localBundle(home: KernelHome, name: string): Promise<KernelManifest | undefined> {
  const manifest = await readKernelBundle(join(home.kernelsDir, name)).catch(() => undefined);
  return manifest?.name === name ? manifest : undefined;
}

/** A catalog-less entry for a complete bundle already in place (copied there, or left by a pull killed before it registered). */
async function localEntry(home: KernelHome, name: string): Promise<KernelCatalogEntry | undefined> {
  return (await localBundle(home, name)) ? { name, description: `adopted from ${join(home.kernelsDir, name)}` } : undefined;
}
