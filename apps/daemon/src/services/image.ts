import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { PlanSummaryWire } from '@banger/api';
import { ConflictError, UserError } from '@banger/errors';
import {
  ImageRecords,
  assertImageName,
  imageBuildGraph,
  imageBuildGraphId,
  imageBusy,
  imageCatalog,
  imageLockKey,
  imageOciOrigin,
  imagePullGraphId,
  loadRecipe,
  pullCatalogImage,
  registerImage,
  registerRootfs,
  type CatalogEntry,
} from '@banger/images';
import { isOciRef, ociPublishStep, parseBundleRef, pruneImageBlobs, pullRegistryImage } from '@banger/oci';
import { KernelsTable } from '@banger/store';
import { SqliteStepStateStore } from '@banger/taskgraph';
import { imageHome, pruneWarmTemplates, removeWarmTemplatesOf, warmTemplatesOf } from '@banger/vm';
import { isGraphLocked, runGraph } from '../graph-runner.js';
import type { Service } from '../service.js';

/**
 * `image.*`: image dirs under paths.imagesDir/<name> (rootfs.ext4,
 * root-skel.tar, manifest.json), recorded in the `images` table only once the
 * directory is complete. Pull and build are task graphs; downloads, .debs and
 * mmdebstrap caches go under paths.cacheDir. The graphs and records live in
 * @banger/images (catalog pull, build, `ImageRecords`) and @banger/oci (OCI
 * pull, blob prune); the handlers here parse params and call them.
 */
export const imageService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'image' });
  const images = new ImageRecords(ctx.db);

  server.handle('image.list', () => images.all().map((row) => images.info(row)));
  server.handle('image.show', async ({ name }) => ({ ...images.info(images.get(name)), warmTemplates: await warmTemplatesOf(ctx.paths.vmsDir, name) }));
  server.handle('image.catalog', async (_params, { signal }) => {
    const catalog = await imageCatalog({ ...(ctx.config.catalogUrl ? { catalogUrl: ctx.config.catalogUrl } : {}), signal });
    return {
      entries: catalog.entries.map((entry) => ({ ...wireEntry(entry), installed: images.find(entry.name) !== undefined })),
      ...(catalog.source ? { source: catalog.source } : {}),
      warnings: catalog.warnings,
    };
  });

  server.handle('image.pull', async ({ name, explain }, { signal, emit }) => {
    assertImageName(name);
    const existing = images.find(name);
    if (existing && imageOciOrigin(existing)) {
      throw new ConflictError('IMAGE_EXISTS', `cannot pull catalog image ${name}: ${name} is already registered from ${images.info(existing).origin}`, {
        hint: `re-pull it with banger image pull ${images.info(existing).oci?.reference ?? '<reference>'}, or remove it first with banger image rm ${name}`,
      });
    }
    const outcome = await pullCatalogImage(imageHome(ctx), name, (options) => runGraph(ctx, options), { signal, emit, explain: explain ?? false });
    for (const warning of outcome.warnings) log.warn({ image: name }, warning);
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire, warnings: outcome.warnings };
    log.info({ image: name }, 'image pulled');
    return { image: images.info(images.get(name)), warnings: outcome.warnings };
  });

  server.handle('image.pull-oci', async ({ reference, name, insecure, provision, explain }, { signal, emit }) => {
    const outcome = await pullRegistryImage(
      { ...imageHome(ctx), stateDir: ctx.paths.stateDir },
      { reference, ...(name !== undefined ? { name } : {}), ...(insecure !== undefined ? { insecure } : {}), ...(provision !== undefined ? { provision } : {}) },
      (options) => runGraph(ctx, options),
      { signal, emit, explain: explain ?? false },
    );
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire, warnings: [] };
    const warnings = [...(outcome.pulled?.warnings ?? [])];
    const row = images.get(outcome.name);
    if (row.kernel_name && !new KernelsTable(ctx.db).find(row.kernel_name)) warnings.push(kernelNotYetRegistered(row.kernel_name, outcome.name));
    log.info({ image: outcome.name, reference: outcome.reference, manifestDigest: outcome.pulled?.manifestDigest }, 'OCI image pulled');
    return { image: images.info(row), warnings };
  });

  server.handle('image.prune', async () => {
    const result = await pruneImageBlobs(imageHome(ctx));
    log.info({ removed: result.removedBlobs.length, freedBytes: result.freedBytes, kept: result.keptImages }, 'OCI blob cache pruned');
    const warm = await pruneWarmTemplates(ctx.paths.vmsDir, (image) => images.find(image)?.sha256);
    if (warm.removed.length > 0) log.info({ removed: warm.removed, freedBytes: warm.freedBytes }, 'stale warm templates pruned');
    return { ...result, removedTemplates: warm.removed, templateFreedBytes: warm.freedBytes };
  });

  server.handle('image.build', async ({ recipe: recipeName, publish, explain }, { signal, emit }) => {
    if (recipeName.includes('/') && !isAbsolute(recipeName)) {
      throw new UserError('IMAGE_RECIPE_RELATIVE', `recipe path ${recipeName} is relative: the daemon cannot tell what it is relative to`, { hint: 'pass an absolute path' });
    }
    const toRegistry = publish !== undefined && isOciRef(publish);
    if (toRegistry) parseBundleRef(publish); // a bad reference fails before the build, not after it
    else if (publish !== undefined && !isAbsolute(publish)) {
      throw new UserError('IMAGE_PUBLISH_RELATIVE', `publish directory ${publish} is relative`, { hint: 'pass an absolute path, or an oci://registry/repository[:tag] reference' });
    }
    const recipe = await loadRecipe(recipeName);
    assertImageName(recipe.name);
    const home = imageHome(ctx);
    const steps = toRegistry
      ? [...imageBuildGraph(home, recipe, undefined), ociPublishStep('image', join(home.imagesDir, recipe.name), publish, 'image.register', join(ctx.paths.cacheDir, 'publish'))]
      : imageBuildGraph(home, recipe, publish);
    const outcome = await runGraph(ctx, {
      graphId: imageBuildGraphId(recipe.name),
      lockKey: imageLockKey(recipe.name),
      steps,
      signal,
      emit,
      explain: explain ?? false,
    });
    if (outcome.explained) return { plan: outcome.plan };
    log.info({ image: recipe.name, publish }, 'image built');
    return {
      image: images.info(images.get(recipe.name)),
      ...(publish ? { published: outcome.result.outputs['image.publish'] as { index?: string; bundle?: string; reference?: string; digest?: string } } : {}),
    };
  });

  server.handle('image.register', async ({ name, rootfs, kernel }, { signal }) => {
    assertImageName(name);
    if (!isAbsolute(rootfs)) throw new UserError('IMAGE_ROOTFS_RELATIVE', `rootfs path ${rootfs} is relative`, { hint: 'pass an absolute path' });
    if (images.find(name)) {
      throw new ConflictError('IMAGE_EXISTS', `cannot register image ${name}: an image with that name is already registered`, {
        hint: `pick another --name, or remove it first with banger image rm ${name}`,
      });
    }
    if (isGraphLocked(imageLockKey(name))) throw imageBusy(name);
    const dest = join(ctx.paths.imagesDir, name);
    // An unrecorded directory is a leftover (e.g. a pull killed before it registered).
    if (existsSync(dest)) await rm(dest, { recursive: true, force: true });
    const { manifest, warnings } = await registerRootfs({ name, rootfsPath: rootfs, destDir: dest, ...(kernel ? { kernel } : {}), signal });
    registerImage(imageHome(ctx), name, dest, manifest);
    const kernelName = manifest.defaultKernel;
    const kernels = new KernelsTable(ctx.db);
    if (!kernel && !kernels.find(kernelName)) {
      warnings.push(kernelNotYetRegistered(kernelName, name));
    } else if (kernel && !kernels.find(kernel)) {
      warnings.push(`kernel ${kernel} is not registered: pull or import it before creating VMs from ${name}`);
    }
    log.info({ image: name, rootfs, warnings }, 'image registered');
    return { image: images.info(images.get(name)), warnings };
  });

  server.handle('image.publish', async ({ name, reference, explain }, { signal, emit }) => {
    parseBundleRef(reference);
    const row = images.get(name);
    const outcome = await runGraph(ctx, {
      graphId: `image-publish:${name}`,
      // the image's own lock: nothing rewrites images/<name> while it is read and pushed
      lockKey: imageLockKey(name),
      steps: [ociPublishStep('image', row.dir, reference, undefined, join(ctx.paths.cacheDir, 'publish'))],
      signal,
      emit,
      explain: explain ?? false,
    });
    if (outcome.explained) return { plan: outcome.plan as PlanSummaryWire };
    const published = outcome.result.outputs['image.publish'] as { reference: string; digest: string } | undefined;
    log.info({ image: name, reference, digest: published?.digest }, 'image published');
    return published ? { published } : {};
  });

  server.handle('image.rm', async ({ name }) => {
    const row = images.get(name);
    const users = images.usedBy(name);
    if (users.length > 0) {
      throw new ConflictError('IMAGE_IN_USE', `cannot remove image ${name}: used by VM${users.length > 1 ? 's' : ''} ${users.join(', ')}`, {
        hint: `delete ${users.length > 1 ? 'those VMs' : 'that VM'} first (banger vm delete ${users.join(' ')})`,
      });
    }
    if (isGraphLocked(imageLockKey(name))) throw imageBusy(name);
    images.remove(name);
    const store = new SqliteStepStateStore(ctx.db);
    store.forget(imagePullGraphId(name));
    store.forget(imageBuildGraphId(name));
    await rm(row.dir, { recursive: true, force: true });
    // Its warm templates go with it (they are copies of it, kept under <state>/warm).
    const templates = await removeWarmTemplatesOf(ctx.paths.vmsDir, name);
    log.info({ image: name, warmTemplates: templates.length }, 'image removed');
    return { name, dir: row.dir };
  });
};

/** The warning of a registered image whose default kernel is not registered yet. */
const kernelNotYetRegistered = (kernel: string, image: string): string =>
  `kernel ${kernel} is not registered yet: pull it with banger kernel pull ${kernel} before creating VMs from ${image}`;

function wireEntry(entry: CatalogEntry) {
  const { bundle, ...rest } = entry;
  return { ...rest, ...(bundle ? { bundle: { url: bundle.url, sha256: bundle.sha256, size: bundle.size, uncompressedSize: bundle.uncompressedSize } } : {}) };
}
