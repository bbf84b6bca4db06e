import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ConflictError, UserError } from '@banger/errors';
import {
  ROOTFS_FILE,
  buildImage,
  findImageEntry,
  imageCatalog,
  loadRecipe,
  parseIndex,
  publishImage,
  pullImage,
  readManifest,
  recipeFingerprint,
  registerRootfs,
  resolvePackageVersions,
  type CatalogEntry,
  type Recipe,
} from '@banger/images';
import { SqliteStepStateStore, type Graph, type Step } from '@banger/taskgraph';
import type { DaemonContext } from '../context.js';
import { isGraphLocked, runGraph } from '../graph-runner.js';
import type { Service } from '../service.js';
import { ImageRecords } from './image-records.js';
import { buildGraphId, busy, checkName, imageLockKey, pullGraphId } from './image-names.js';
import { isOciRow, ociPruneHandler, ociPullHandler } from './image-oci.js';

export { imageLockKey } from './image-names.js';

/**
 * `image.*`: image dirs under paths.imagesDir/<name> (rootfs.ext4,
 * root-skel.tar, manifest.json), recorded in the `images` table only once the
 * directory is complete. Pull and build are task graphs; downloads, .debs and
 * mmdebstrap caches go under paths.cacheDir.
 */
export const imageService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'image' });
  const images = new ImageRecords(ctx);

  server.handle('image.list', () => images.all().map((row) => images.info(row)));
  server.handle('image.show', ({ name }) => images.info(images.get(name)));
  server.handle('image.catalog', async (_params, { signal }) => {
    const catalog = await imageCatalog({ ...(ctx.config.catalogUrl ? { catalogUrl: ctx.config.catalogUrl } : {}), signal });
    return {
      entries: catalog.entries.map((entry) => ({ ...wireEntry(entry), installed: images.find(entry.name) !== undefined })),
      ...(catalog.source ? { source: catalog.source } : {}),
      warnings: catalog.warnings,
    };
  });

  server.handle('image.pull', async ({ name, explain }, { signal, emit }) => {
    checkName(name);
    const existing = images.find(name);
    if (existing && isOciRow(images, existing)) {
      throw new ConflictError('IMAGE_EXISTS', `cannot pull catalog image ${name}: ${name} is already registered from ${images.info(existing).origin}`, {
        hint: `re-pull it with banger image pull ${images.info(existing).oci?.reference ?? '<reference>'}, or remove it first with banger image rm ${name}`,
      });
    }
    const catalog = await imageCatalog({ ...(ctx.config.catalogUrl ? { catalogUrl: ctx.config.catalogUrl } : {}), signal });
    for (const warning of catalog.warnings) log.warn({ image: name }, warning);
    const entry = findImageEntry(catalog, name);
    const outcome = await runGraph(ctx, {
      graphId: pullGraphId(name),
      lockKey: imageLockKey(name),
      steps: pullGraph(ctx, images, entry),
      signal,
      emit,
      explain: explain ?? false,
    });
    if (outcome.explained) return { plan: outcome.plan, warnings: catalog.warnings };
    log.info({ image: name }, 'image pulled');
    return { image: images.info(images.get(name)), warnings: catalog.warnings };
  });

  server.handle('image.pull-oci', ociPullHandler(ctx, images));
  server.handle('image.prune', ociPruneHandler(ctx, images));

  server.handle('image.build', async ({ recipe: recipeName, publish, explain }, { signal, emit }) => {
    if (recipeName.includes('/') && !isAbsolute(recipeName)) {
      throw new UserError('IMAGE_RECIPE_RELATIVE', `recipe path ${recipeName} is relative: the daemon cannot tell what it is relative to`, { hint: 'pass an absolute path' });
    }
    if (publish !== undefined && !isAbsolute(publish)) {
      throw new UserError('IMAGE_PUBLISH_RELATIVE', `publish directory ${publish} is relative`, { hint: 'pass an absolute path' });
    }
    const recipe = await loadRecipe(recipeName);
    checkName(recipe.name);
    const outcome = await runGraph(ctx, {
      graphId: buildGraphId(recipe.name),
      lockKey: imageLockKey(recipe.name),
      steps: buildGraph(ctx, images, recipe, publish),
      signal,
      emit,
      explain: explain ?? false,
    });
    if (outcome.explained) return { plan: outcome.plan };
    log.info({ image: recipe.name, publish }, 'image built');
    return {
      image: images.info(images.get(recipe.name)),
      ...(publish ? { published: outcome.result.outputs['image.publish'] as { index: string; bundle: string } } : {}),
    };
  });

  server.handle('image.register', async ({ name, rootfs, kernel }, { signal }) => {
    checkName(name);
    if (!isAbsolute(rootfs)) throw new UserError('IMAGE_ROOTFS_RELATIVE', `rootfs path ${rootfs} is relative`, { hint: 'pass an absolute path' });
    if (images.find(name)) {
      throw new ConflictError('IMAGE_EXISTS', `cannot register image ${name}: an image with that name is already registered`, {
        hint: `pick another --name, or remove it first with banger image rm ${name}`,
      });
    }
    if (isGraphLocked(imageLockKey(name))) throw busy(name);
    const dest = join(ctx.paths.imagesDir, name);
    // An unrecorded directory is a leftover (e.g. a pull killed before it registered).
    if (existsSync(dest)) await rm(dest, { recursive: true, force: true });
    const { manifest, warnings } = await registerRootfs({ name, rootfsPath: rootfs, destDir: dest, ...(kernel ? { kernel } : {}), signal });
    images.put(name, dest, manifest);
    const kernelName = manifest.defaultKernel;
    if (!kernel && !ctx.db.prepare('SELECT 1 FROM kernels WHERE name = ?').get(kernelName)) {
      warnings.push(`kernel ${kernelName} is not registered yet: pull it with banger kernel pull ${kernelName} before creating VMs from ${name}`);
    } else if (kernel && !ctx.db.prepare('SELECT 1 FROM kernels WHERE name = ?').get(kernel)) {
      warnings.push(`kernel ${kernel} is not registered: pull or import it before creating VMs from ${name}`);
    }
    log.info({ image: name, rootfs, warnings }, 'image registered');
    return { image: images.info(images.get(name)), warnings };
  });

  server.handle('image.rm', async ({ name }) => {
    const row = images.get(name);
    const users = images.usedBy(name);
    if (users.length > 0) {
      throw new ConflictError('IMAGE_IN_USE', `cannot remove image ${name}: used by VM${users.length > 1 ? 's' : ''} ${users.join(', ')}`, {
        hint: `delete ${users.length > 1 ? 'those VMs' : 'that VM'} first (banger vm delete ${users.join(' ')})`,
      });
    }
    if (isGraphLocked(imageLockKey(name))) throw busy(name);
    images.remove(name);
    const store = new SqliteStepStateStore(ctx.db);
    store.forget(pullGraphId(name));
    store.forget(buildGraphId(name));
    await rm(row.dir, { recursive: true, force: true });
    log.info({ image: name }, 'image removed');
    return { name, dir: row.dir };
  });
};

/** `image.fetch` (download the bundle, or build from the recipe when none is reachable), then `image.register`. */
function pullGraph(ctx: DaemonContext, images: ImageRecords, entry: CatalogEntry): Graph {
  const dir = join(ctx.paths.imagesDir, entry.name);
  const fetch: Step<{ version: string }> = {
    id: 'image.fetch',
    title: entry.bundle ? `Download image ${entry.name}` : `Build image ${entry.name} from recipe ${entry.recipe}`,
    needs: [],
    inputs: () => ({ dir }),
    isSatisfied: () => intactImage(dir, entry.name),
    run: async (step, report) => {
      // Safe to repeat: an intact image already there (an earlier attempt got this far) is adopted.
      const existing = await readManifest(dir).catch(() => undefined);
      if (existing?.name === entry.name && existsSync(join(dir, ROOTFS_FILE))) {
        report.line(`image ${entry.name} ${existing.version} is already in ${dir}`);
        return { version: existing.version };
      }
      if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
      const manifest = await pullImage({ entry, destDir: dir, cacheDir: ctx.paths.cacheDir, signal: step.signal, progress: report });
      return { version: manifest.version };
    },
    hint: 'check catalog_url and the network, then pull again (the download resumes)',
  };
  return [fetch, registerStep(images, entry.name, dir, 'image.fetch')];
}

/** `image.build` (no-op when the recipe fingerprint is unchanged), `image.register`, and `image.publish` with a publish dir. */
function buildGraph(ctx: DaemonContext, images: ImageRecords, recipe: Recipe, publishDir: string | undefined): Graph {
  const dir = join(ctx.paths.imagesDir, recipe.name);
  let fingerprint: Promise<string> | undefined;
  const recipeHash = (signal: AbortSignal): Promise<string> =>
    (fingerprint ??= resolvePackageVersions(recipe, { cacheDir: join(ctx.paths.cacheDir, 'build'), signal }).then((packages) => recipeFingerprint(recipe, packages)));
  const build: Step<{ version: string; recipeHash: string }> = {
    id: 'image.build',
    title: `Build image ${recipe.name}`,
    needs: [],
    inputs: async (plan) => ({ recipe: await recipeHash(plan.signal) }),
    isSatisfied: async (plan) => {
      const manifest = await readManifest(dir).catch(() => undefined);
      if (!manifest || !existsSync(join(dir, ROOTFS_FILE))) return { satisfied: false, reason: `no image in ${dir}` };
      return manifest.recipeHash === (await recipeHash(plan.signal)) || { satisfied: false, reason: 'the image was built from another recipe' };
    },
    run: async (step, report) => {
      const manifest = await buildImage({ recipe, outDir: dir, cacheDir: join(ctx.paths.cacheDir, 'build'), signal: step.signal, progress: report });
      return { version: manifest.version, recipeHash: manifest.recipeHash ?? '' };
    },
    hint: 'see the step output above; mmdebstrap needs apt access to Debian and root (or sudo -n)',
  };
  const steps: Step<any>[] = [build, registerStep(images, recipe.name, dir, 'image.build')];
  if (publishDir) {
    steps.push({
      id: 'image.publish',
      title: `Publish image ${recipe.name} to ${publishDir}`,
      needs: ['image.register'],
      inputs: () => ({ publishDir }),
      isSatisfied: async () => {
        const manifest = await readManifest(dir).catch(() => undefined);
        const index = await readFile(join(publishDir, 'index.json'), 'utf8').then((text) => parseIndex(text, publishDir), () => undefined);
        const entry = index?.images.find((e) => e.name === recipe.name);
        if (!manifest || !entry?.bundle || entry.version !== manifest.version) return { satisfied: false, reason: `${publishDir}/index.json does not list this build` };
        return existsSync(join(publishDir, entry.bundle.url)) || { satisfied: false, reason: `${entry.bundle.url} is missing` };
      },
      run: async (step, report) => {
        const entry = await publishImage(dir, publishDir, { signal: step.signal, progress: report });
        return { index: join(publishDir, 'index.json'), bundle: join(publishDir, entry.bundle?.url ?? '') };
      },
    } satisfies Step<{ index: string; bundle: string }>);
  }
  return steps;
}

function registerStep(images: ImageRecords, name: string, dir: string, needs: string): Step<{ version: string }> {
  return {
    id: 'image.register',
    title: `Register image ${name}`,
    needs: [needs],
    inputs: () => ({ dir }),
    isSatisfied: async () => {
      const row = images.find(name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const manifest = await readManifest(dir).catch(() => undefined);
      return (manifest !== undefined && row.dir === dir && row.version === manifest.version) || { satisfied: false, reason: 'the record does not match the image' };
    },
    run: async () => {
      const manifest = await readManifest(dir);
      images.put(name, dir, manifest);
      return { version: manifest.version };
    },
  };
}

async function intactImage(dir: string, name: string): Promise<boolean | { satisfied: false; reason: string }> {
  const manifest = await readManifest(dir).catch(() => undefined);
  if (!manifest || !existsSync(join(dir, ROOTFS_FILE))) return { satisfied: false, reason: `no image in ${dir}` };
  return manifest.name === name || { satisfied: false, reason: `${dir} holds image ${manifest.name}` };
}

function wireEntry(entry: CatalogEntry) {
  const { bundle, ...rest } = entry;
  return { ...rest, ...(bundle ? { bundle: { url: bundle.url, sha256: bundle.sha256, size: bundle.size, uncompressedSize: bundle.uncompressedSize } } : {}) };
}
