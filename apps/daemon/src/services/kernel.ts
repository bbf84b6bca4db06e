import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { KernelInfo } from '@banger/api';
import { ConflictError, NotFoundError, UserError } from '@banger/errors';
import {
  KERNEL_NAME_PATTERN,
  buildKernelBundle,
  findCatalogEntry,
  importKernelBundle,
  kernelCatalog,
  pullKernelBundle,
  readKernelBundle,
  type KernelCatalogEntry,
  type KernelManifest,
} from '@banger/kernels';
import { SqliteStepStateStore, type Graph, type Step } from '@banger/taskgraph';
import type { DaemonContext } from '../context.js';
import { isGraphLocked, runGraph } from '../graph-runner.js';
import type { Service } from '../service.js';

interface KernelRow {
  name: string;
  version: string;
  dir: string;
  manifest: string;
  created_at: number;
}

/** The task-graph id (and lock key) of everything that writes kernels/<name>. */
export const kernelGraphId = (name: string): string => `kernel:${name}`;

/**
 * `kernel.*`: kernel bundles under paths.kernelsDir/<name>, recorded in the
 * `kernels` table only once the bundle directory is complete. `kernel.pull`
 * is a task graph (fetch or build, then register), so a second pull skips
 * every step and a cancelled one leaves neither a directory nor a record.
 */
export const kernelService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'kernel' });
  const kernels = new KernelRecords(ctx);

  server.handle('kernel.list', () => kernels.all().map((row) => kernels.info(row)));
  server.handle('kernel.show', ({ name }) => kernels.info(kernels.get(name)));
  server.handle('kernel.catalog', async (_params, { signal }) => {
    const entries = await kernelCatalog(ctx.config.kernelCatalogUrl, signal);
    return {
      entries: entries.map((entry) => ({ ...entry, installed: kernels.find(entry.name) !== undefined })),
      ...(ctx.config.kernelCatalogUrl ? { source: ctx.config.kernelCatalogUrl } : {}),
    };
  });

  server.handle('kernel.pull', async ({ name, explain }, { signal, emit }) => {
    checkName(name);
    const entry = findCatalogEntry(name, await kernelCatalog(ctx.config.kernelCatalogUrl, signal));
    const outcome = await runGraph(ctx, { graphId: kernelGraphId(name), steps: pullGraph(ctx, kernels, entry), signal, emit, explain: explain ?? false });
    if (outcome.explained) return { plan: outcome.plan };
    log.info({ kernel: name }, 'kernel pulled');
    return { kernel: kernels.info(kernels.get(name)) };
  });

  server.handle('kernel.build', async ({ debPackage, name: given, explain }, { signal, emit }) => {
    const name = given ?? defaultBuildName(debPackage);
    checkName(name);
    const entry: KernelCatalogEntry = { name, description: `built from ${debPackage}`, recipe: { debPackage } };
    // Same graph id (and lock) as a pull: both write kernels/<name>.
    const outcome = await runGraph(ctx, { graphId: kernelGraphId(name), steps: pullGraph(ctx, kernels, entry, { rebuild: true }), signal, emit, explain: explain ?? false });
    if (outcome.explained) return { plan: outcome.plan };
    log.info({ kernel: name, debPackage }, 'kernel built');
    return { kernel: kernels.info(kernels.get(name)) };
  });

  server.handle('kernel.import', async ({ dir, name }) => {
    const source = resolve(dir);
    const manifest = await readKernelBundle(source);
    const recordName = name ?? manifest.name;
    checkName(recordName);
    if (kernels.find(recordName)) {
      throw new ConflictError('KERNEL_EXISTS', `cannot import kernel ${recordName}: a kernel with that name is already registered`, {
        hint: `remove it first with banger kernel rm ${recordName}, or pass --name`,
      });
    }
    if (isGraphLocked(kernelGraphId(recordName))) throw busy(recordName);
    const dest = join(ctx.paths.kernelsDir, recordName);
    if (existsSync(dest)) {
      // An unrecorded directory is a leftover (e.g. a pull killed before it registered): replace it.
      await rm(dest, { recursive: true, force: true });
    }
    const imported = await importKernelBundle(source, dest);
    kernels.put(recordName, dest, imported);
    log.info({ kernel: recordName, from: source }, 'kernel imported');
    return kernels.info(kernels.get(recordName));
  });

  server.handle('kernel.rm', async ({ name }) => {
    const row = kernels.get(name);
    const users = kernels.usedBy(name);
    if (users.length > 0) {
      throw new ConflictError('KERNEL_IN_USE', `cannot remove kernel ${name}: used by VM${users.length > 1 ? 's' : ''} ${users.join(', ')}`, {
        hint: `delete ${users.length > 1 ? 'those VMs' : 'that VM'} first (banger vm delete ${users.join(' ')})`,
      });
    }
    if (isGraphLocked(kernelGraphId(name))) throw busy(name);
    // Record first: a crash between the two leaves an unrecorded directory, which pull/import replace.
    kernels.remove(name);
    new SqliteStepStateStore(ctx.db).forget(kernelGraphId(name));
    await rm(row.dir, { recursive: true, force: true });
    log.info({ kernel: name }, 'kernel removed');
    return { name, dir: row.dir };
  });
};

/**
 * The pull graph: `kernel.fetch` (a published bundle; the lib falls back to
 * the recipe when it is unreachable) or `kernel.build` (recipe only), then
 * `kernel.register`. The fetch/build step writes kernels/<name> atomically.
 */
function pullGraph(ctx: DaemonContext, kernels: KernelRecords, entry: KernelCatalogEntry, options: { rebuild?: boolean } = {}): Graph {
  const dir = join(ctx.paths.kernelsDir, entry.name);
  const fetchId = entry.bundle ? 'kernel.fetch' : 'kernel.build';
  const fetch: Step<{ version: string; outcome: string }> = {
    id: fetchId,
    title: entry.bundle ? `Download kernel ${entry.name}` : `Build kernel ${entry.name} from ${entry.recipe?.debPackage}`,
    needs: [],
    inputs: () => ({ entry: JSON.stringify({ bundle: entry.bundle ?? null, recipe: entry.recipe ?? null }), dir }),
    isSatisfied: async () => {
      const manifest = await readKernelBundle(dir).catch(() => undefined);
      if (!manifest) return { satisfied: false, reason: `no intact bundle in ${dir}` };
      return manifest.name === entry.name || { satisfied: false, reason: `${dir} holds kernel ${manifest.name}` };
    },
    run: async (step, report) => {
      if (options.rebuild && entry.recipe) {
        // `kernel build`: an existing bundle from another package (or an older version of it) is replaced.
        const manifest = await buildKernelBundle({ debPackage: entry.recipe.debPackage, name: entry.name, outDir: dir, cacheDir: ctx.paths.cacheDir, signal: step.signal, progress: report });
        return { version: manifest.version, outcome: 'built' };
      }
      const pulled = await pullKernelBundle({ entry, destDir: dir, cacheDir: ctx.paths.cacheDir, signal: step.signal, progress: report });
      return { version: pulled.manifest.version, outcome: pulled.outcome };
    },
    hint: entry.bundle ? 'check the network or kernel_catalog_url, then pull again' : 'check that apt can download Debian packages (apt-get update), then pull again',
  };
  const register: Step<{ version: string }> = {
    id: 'kernel.register',
    title: `Register kernel ${entry.name}`,
    needs: [fetchId],
    inputs: () => ({ dir }),
    isSatisfied: async () => {
      const row = kernels.find(entry.name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const manifest = await readKernelBundle(dir).catch(() => undefined);
      return (manifest !== undefined && row.dir === dir && row.version === manifest.version) || { satisfied: false, reason: 'the record does not match the bundle' };
    },
    run: async () => {
      const manifest = await readKernelBundle(dir);
      kernels.put(entry.name, dir, manifest);
      return { version: manifest.version };
    },
  };
  return [fetch, register];
}

/** The `kernels` table and what `kernel show` adds to a row. */
class KernelRecords {
  private readonly selectAll;
  private readonly selectOne;
  private readonly upsert;
  private readonly remove_;
  private readonly users;

  constructor(ctx: DaemonContext) {
    this.selectAll = ctx.db.prepare<[], KernelRow>('SELECT * FROM kernels ORDER BY name');
    this.selectOne = ctx.db.prepare<[string], KernelRow>('SELECT * FROM kernels WHERE name = ?');
    this.upsert = ctx.db.prepare(
      `INSERT INTO kernels (name, version, dir, manifest, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, dir = excluded.dir, manifest = excluded.manifest`,
    );
    this.remove_ = ctx.db.prepare('DELETE FROM kernels WHERE name = ?');
    this.users = ctx.db.prepare<[string], string>('SELECT name FROM vms WHERE kernel_name = ? ORDER BY name').pluck();
  }

  all(): KernelRow[] {
    return this.selectAll.all();
  }

  find(name: string): KernelRow | undefined {
    return this.selectOne.get(name);
  }

  get(name: string): KernelRow {
    const row = this.find(name);
    if (!row) {
      const known = this.all().map((r) => r.name);
      throw new NotFoundError('KERNEL_NOT_FOUND', `kernel ${name} is not registered${known.length ? ` (registered: ${known.join(', ')})` : ''}`, {
        hint: `pull it with banger kernel pull ${name}, or see banger kernel catalog`,
      });
    }
    return row;
  }

  put(name: string, dir: string, manifest: KernelManifest): void {
    this.upsert.run(name, manifest.version, dir, JSON.stringify(manifest), Date.now());
  }

  remove(name: string): void {
    this.remove_.run(name);
  }

  usedBy(name: string): string[] {
    return this.users.all(name);
  }

  info(row: KernelRow): KernelInfo {
    // Defensive: a row written by another code path must not break `kernel list`.
    let manifest: Partial<KernelManifest> = {};
    try {
      manifest = JSON.parse(row.manifest) as Partial<KernelManifest>;
    } catch {
      // keep the defaults below
    }
    return {
      name: row.name,
      version: row.version,
      dir: row.dir,
      source: manifest.source ?? { package: 'unknown', packageVersion: 'unknown' },
      bootModules: manifest.bootModules ?? [],
      builtAt: manifest.builtAt ?? new Date(row.created_at).toISOString(),
      registeredAt: new Date(row.created_at).toISOString(),
      sizeBytes: Object.values(manifest.files ?? {}).reduce((sum, file) => sum + (file?.size ?? 0), 0),
      usedBy: this.usedBy(row.name),
    };
  }
}

/** `linux-image-cloud-amd64` → `cloud-amd64`: the name `kernel build` uses without --name. */
function defaultBuildName(debPackage: string): string {
  return debPackage.replace(/^linux-image-/, '').toLowerCase();
}

function checkName(name: string): void {
  if (!KERNEL_NAME_PATTERN.test(name)) {
    throw new UserError('KERNEL_BAD_NAME', `invalid kernel name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-' (at most 63)`);
  }
}

function busy(name: string): ConflictError {
  return new ConflictError('KERNEL_BUSY', `kernel ${name} is being pulled right now`, { hint: 'wait for that pull to finish (or cancel it), then retry' });
}
