import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PlanSummaryWire } from '@banger/api';
import { ConflictError } from '@banger/errors';
import {
  assertKernelName,
  importKernelBundle,
  kernelCatalog,
  kernelGraphId,
  pullKernel,
  readKernelBundle,
  registerKernel,
  KernelRecords,
  type KernelHome,
} from '@banger/kernels';
import { ociPublishStep, parseBundleRef, type PublishedBundle } from '@banger/oci';
import { SqliteStepStateStore } from '@banger/taskgraph';
import { kernelHome as vmKernelHome } from '@banger/vm';
import type { DaemonContext } from '../context.js';
import { isGraphLocked, runGraph } from '../graph-runner.js';
import type { Service } from '../service.js';


/**
 * `kernel.*`: kernel bundles under paths.kernelsDir/<name>, recorded in the
 * `kernels` table only once the bundle directory is complete. `kernel.pull`
 * is a task graph (fetch or build, then register), so a second pull skips
 * every step and a cancelled one leaves neither a directory nor a record.
 */
export const kernelService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'kernel' });
  const kernels = new KernelRecords(ctx.db);

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
    const outcome = await pullKernel(kernelHome(ctx), name, (options) => runGraph(ctx, options), { signal, emit, explain: explain ?? false });
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire };
    log.info({ kernel: name }, 'kernel pulled');
    return { kernel: kernels.info(kernels.get(name)) };
  });

  server.handle('kernel.build', async ({ debPackage, name: given, publish, explain }, { signal, emit }) => {
    const name = given ?? defaultBuildName(debPackage);
    if (publish) parseBundleRef(publish); // a bad reference fails before the build, not after it
    const then = publish ? [ociPublishStep('kernel', join(ctx.paths.kernelsDir, name), publish, 'kernel.register', join(ctx.paths.cacheDir, 'publish'))] : [];
    // Same graph id (and lock) as a pull: both write kernels/<name>.
    const outcome = await pullKernel(kernelHome(ctx), name, (options) => runGraph(ctx, options), { signal, emit, explain: explain ?? false, rebuild: { debPackage }, then });
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire };
    log.info({ kernel: name, debPackage, publish }, 'kernel built');
    const published = publish ? (outcome.result.outputs['kernel.publish'] as PublishedBundle | undefined) : undefined;
    return { kernel: kernels.info(kernels.get(name)), ...(published ? { published } : {}) };
  });

  server.handle('kernel.publish', async ({ name, reference, explain }, { signal, emit }) => {
    parseBundleRef(reference);
    const row = kernels.get(name);
    const outcome = await runGraph(ctx, {
      graphId: `kernel-publish:${name}`,
      // the kernel's own lock: nothing rewrites kernels/<name> while it is read and pushed
      lockKey: kernelGraphId(name),
      steps: [ociPublishStep('kernel', row.dir, reference, undefined, join(ctx.paths.cacheDir, 'publish'))],
      signal,
      emit,
      explain: explain ?? false,
    });
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire };
    const published = outcome.result.outputs['kernel.publish'] as PublishedBundle | undefined;
    log.info({ kernel: name, reference, digest: published?.digest }, 'kernel published');
    return published ? { published } : {};
  });

  server.handle('kernel.import', async ({ dir, name }) => {
    const source = resolve(dir);
    const manifest = await readKernelBundle(source);
    const recordName = name ?? manifest.name;
    assertKernelName(recordName);
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
    registerKernel(kernelHome(ctx), recordName, dest, imported);
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

/** Where kernels live, as @banger/kernels takes it: the very home `vm create`'s fetch step uses. */
export const kernelHome = (ctx: DaemonContext): KernelHome => vmKernelHome(ctx);

/** `linux-image-cloud-amd64` → `cloud-amd64`: the name `kernel build` uses without --name. */
function defaultBuildName(debPackage: string): string {
  return debPackage.replace(/^linux-image-/, '').toLowerCase();
}

function busy(name: string): ConflictError {
  return new ConflictError('KERNEL_BUSY', `kernel ${name} is being pulled right now`, { hint: 'wait for that pull to finish (or cancel it), then retry' });
}
