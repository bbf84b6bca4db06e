import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Handler, OciSource } from '@banger/api';
import { ConflictError, InternalError } from '@banger/errors';
import { cleanStaleTemps, tempSibling, writeJsonAtomic } from '@banger/host';
import {
  MANIFEST_FILE,
  ROOTFS_FILE,
  assertImageName,
  imageLockKey,
  imagePullGraphId,
  readManifest,
  registerImage,
  registerRootfs,
  type ImageManifest,
} from '@banger/images';
import {
  RegistryClient,
  blobsDir,
  formatReference,
  imageNameForReference,
  loadDockerCredentials,
  manifestSelector,
  parseReference,
  pruneBlobs,
  pullOciImage,
  type ImageReference,
} from '@banger/oci';
import type { Graph, Satisfaction, Step } from '@banger/taskgraph';
import { KernelsTable } from '@banger/store';
import type { DaemonContext } from '../context.js';
import { runGraph } from '../graph-runner.js';
import type { ImageRecords, ImageRow } from './image-records.js';

/** Sidecar in an OCI image dir: where the rootfs came from (manifest.json's schema has no room for digests). */
export const OCI_SOURCE_FILE = 'oci-source.json';
/** The kernel VMs from a pulled image boot by default (the same default as `image register`). */
const DEFAULT_KERNEL = 'debian-cloud';

/** What the `image.oci-pull` step records (and `image.register` reads). */
interface OciPullOutput extends OciSource {
  version: string;
  warnings: string[];
}

/**
 * Pulls run vs. `image prune`: a prune while a pull runs could delete blobs
 * the pull has verified but not yet recorded as used, so prune refuses while
 * pulls run, and a pull that starts during a prune waits for it.
 */
let activeOciPulls = 0;
let pruning: Promise<void> | undefined;

/**
 * `image.pull-oci`: graph `image:<name>` with `image.oci-pull` (resolve,
 * fetch + verify blobs, flatten, provision, mkfs, stage the image dir and
 * swap it in) → `image.register` (the `images` row with the OCI digests).
 * The name defaults to `imageNameForReference`. A name already registered
 * from something else (a catalog image, another reference) is refused.
 */
export function ociPullHandler(ctx: DaemonContext, images: ImageRecords): Handler<'image.pull-oci'> {
  const log = ctx.log.child({ service: 'image' });
  return async ({ reference, name, insecure, provision, explain }, { signal, emit }) => {
    const ref = parseReference(reference);
    const imageName = name ?? imageNameForReference(ref);
    assertImageName(imageName);
    assertNameFree(images, imageName, formatReference(ref));
    while (pruning) await pruning;
    activeOciPulls++;
    try {
      const outcome = await runGraph(ctx, {
        graphId: imagePullGraphId(imageName),
        lockKey: imageLockKey(imageName),
        steps: ociPullGraph(ctx, images, { ref, name: imageName, insecure: insecure ?? false, provision }),
        signal,
        emit,
        explain: explain ?? false,
      });
      if (outcome.explained) return { plan: outcome.plan, warnings: [] };
      const pulled = outcome.result.outputs['image.oci-pull'] as OciPullOutput | undefined;
      const warnings = [...(pulled?.warnings ?? [])];
      const row = images.get(imageName);
      if (row.kernel_name && !new KernelsTable(ctx.db).find(row.kernel_name)) {
        warnings.push(`kernel ${row.kernel_name} is not registered yet: pull it with banger kernel pull ${row.kernel_name} before creating VMs from ${imageName}`);
      }
      log.info({ image: imageName, reference: formatReference(ref), manifestDigest: pulled?.manifestDigest }, 'OCI image pulled');
      return { image: images.info(row), warnings };
    } finally {
      activeOciPulls--;
    }
  };
}

/**
 * `image.prune`: deletes cached OCI blobs that no registered image uses,
 * keeping every blob listed for the manifest digests of the registered OCI
 * images (`pruneBlobs`). Refused while an OCI pull runs.
 */
export function ociPruneHandler(ctx: DaemonContext, images: ImageRecords): Handler<'image.prune'> {
  const log = ctx.log.child({ service: 'image' });
  return async () => {
    if (activeOciPulls > 0 || pruning) {
      throw new ConflictError('IMAGE_PRUNE_BUSY', `cannot prune the OCI blob cache now: ${activeOciPulls > 0 ? `${activeOciPulls} image pull(s) running` : 'another prune is running'}`, {
        hint: 'wait for the pull to finish, then run banger image prune again',
      });
    }
    let finished!: () => void;
    pruning = new Promise((resolve) => (finished = resolve));
    try {
      const keep: string[] = [];
      const keptImages: string[] = [];
      for (const row of images.all()) {
        const oci = images.ociSource(row);
        if (!oci?.manifestDigest) continue;
        keptImages.push(row.name);
        keep.push(oci.manifestDigest, ...(oci.indexDigest ? [oci.indexDigest] : []));
      }
      const result = await pruneBlobs(ctx.paths.cacheDir, keep);
      log.info({ removed: result.removedBlobs.length, freedBytes: result.freedBytes, kept: keptImages }, 'OCI blob cache pruned');
      return { removedBlobs: result.removedBlobs, freedBytes: result.freedBytes, keptImages, cacheDir: blobsDir(ctx.paths.cacheDir) };
    } finally {
      pruning = undefined;
      finished();
    }
  };
}

/** Refuses to pull over an image registered from something else than this reference. */
function assertNameFree(images: ImageRecords, name: string, shown: string): void {
  const row = images.find(name);
  if (!row) return;
  const oci = images.ociSource(row);
  if (oci?.reference === shown) return;
  const from = oci ? oci.reference : images.info(row).origin;
  throw new ConflictError('IMAGE_EXISTS', `cannot pull ${shown} as image ${name}: ${name} is already registered from ${from}`, {
    hint: `pick another name with --name, or remove it first with banger image rm ${name}`,
  });
}

interface OciPullPlan {
  ref: ImageReference;
  name: string;
  insecure: boolean;
  provision: boolean | undefined;
}

function ociPullGraph(ctx: DaemonContext, images: ImageRecords, pull: OciPullPlan): Graph {
  const dir = join(ctx.paths.imagesDir, pull.name);
  const shown = formatReference(pull.ref);
  const fetch: Step<OciPullOutput> = {
    id: 'image.oci-pull',
    title: `Pull ${shown}`,
    needs: [],
    // Only the reference: --insecure is transport, and --provision/--no-provision are checked against what was done (upToDate).
    inputs: () => ({ reference: shown }),
    isSatisfied: (plan) => upToDate(dir, pull, plan.signal),
    run: async (step, report) => {
      assertNameFree(images, pull.name, shown);
      // One scratch dir per attempt, named for its pid: leftovers of a killed daemon are removed by the next pull.
      const workBase = join(ctx.paths.stateDir, 'oci-work', pull.name);
      await mkdir(dirname(workBase), { recursive: true });
      await cleanStaleTemps(workBase);
      const workDir = tempSibling(workBase);
      // The pulled ext4 is scratch too: registerRootfs copies it into the staged image dir (with root-skel.tar and manifest.json).
      const scratchRootfs = join(workDir, 'rootfs.ext4');
      const staging = tempSibling(dir);
      try {
        await mkdir(workDir);
        const pulled = await pullOciImage({
          reference: shown,
          cacheDir: ctx.paths.cacheDir,
          workDir,
          outRootfs: scratchRootfs,
          ...(pull.insecure ? { insecure: true } : {}),
          ...(pull.provision !== undefined ? { provision: pull.provision } : {}),
          signal: step.signal,
          progress: report,
        });
        report.line(`writing image ${pull.name}`);
        const registered = await registerRootfs({ name: pull.name, rootfsPath: scratchRootfs, destDir: staging, kernel: DEFAULT_KERNEL, signal: step.signal });
        const source: OciSource = {
          reference: pulled.reference,
          manifestDigest: pulled.manifestDigest,
          ...(pulled.indexDigest ? { indexDigest: pulled.indexDigest } : {}),
          configDigest: pulled.configDigest,
          provisioned: pulled.provisioned,
        };
        const manifest: ImageManifest = { ...registered.manifest, version: shortDigest(pulled.manifestDigest), source: `oci:${pulled.reference}` };
        await writeJsonAtomic(join(staging, MANIFEST_FILE), manifest);
        await writeJsonAtomic(join(staging, OCI_SOURCE_FILE), source);
        await swapInto(staging, dir);
        return { ...source, version: manifest.version, warnings: [...pulled.warnings, ...registered.warnings] };
      } finally {
        await rm(workDir, { recursive: true, force: true });
        await rm(staging, { recursive: true, force: true });
      }
    },
    hint: 'check the reference and that the registry is reachable, then pull again (verified layers stay cached)',
  };
  const register: Step<{ version: string; manifestDigest: string }> = {
    id: 'image.register',
    title: `Register image ${pull.name}`,
    needs: ['image.oci-pull'],
    inputs: () => ({ dir }),
    isSatisfied: async () => {
      const row = images.find(pull.name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const onDisk = await readOciImage(dir);
      const recorded = images.ociSource(row);
      return (
        (onDisk !== undefined &&
          row.dir === dir &&
          row.sha256 === onDisk.manifest.files[ROOTFS_FILE]?.sha256 &&
          recorded?.manifestDigest === onDisk.source.manifestDigest &&
          recorded.provisioned === onDisk.source.provisioned) || {
          satisfied: false,
          reason: 'the record does not match the image',
        }
      );
    },
    run: async () => {
      const onDisk = await readOciImage(dir);
      if (!onDisk) throw new InternalError('IMAGE_OCI_DIR_INCOMPLETE', `image ${pull.name}: ${dir} lacks ${MANIFEST_FILE}, ${ROOTFS_FILE} or ${OCI_SOURCE_FILE}`, { hint: 'pull it again' });
      registerImage({ table: images }, pull.name, dir, onDisk.manifest, onDisk.source);
      return { version: onDisk.manifest.version, manifestDigest: onDisk.source.manifestDigest };
    },
  };
  return [fetch, register];
}

/**
 * Whether `dir` already holds this reference at the digest the registry
 * serves now: a pinned digest is compared without any request; a tag costs
 * one HEAD of the manifest (a GET when the registry will not say).
 */
async function upToDate(dir: string, pull: OciPullPlan, signal: AbortSignal): Promise<Satisfaction> {
  const onDisk = await readOciImage(dir);
  if (!onDisk) return { satisfied: false, reason: `no image in ${dir}` };
  const shown = formatReference(pull.ref);
  if (onDisk.source.reference !== shown) return { satisfied: false, reason: `${dir} holds ${onDisk.source.reference}` };
  if (pull.provision !== undefined && pull.provision !== onDisk.source.provisioned) {
    return { satisfied: false, reason: pull.provision ? 'the image was not provisioned and --provision was given' : 'the image was provisioned and --no-provision was given' };
  }
  const known = [onDisk.source.manifestDigest, onDisk.source.indexDigest];
  if (pull.ref.digest) return known.includes(pull.ref.digest) || { satisfied: false, reason: `${dir} holds another digest` };
  const current = await currentDigest(pull, signal);
  return known.includes(current) || { satisfied: false, reason: `${shown} now points at ${shortDigest(current)} (have ${shortDigest(onDisk.source.manifestDigest)})` };
}

async function currentDigest(pull: OciPullPlan, signal: AbortSignal): Promise<string> {
  const credentials = await loadDockerCredentials(pull.ref.registry);
  const client = new RegistryClient({ registry: pull.ref.registry, signal, ...(pull.insecure ? { insecure: true } : {}), ...(credentials ? { credentials } : {}) });
  const selector = manifestSelector(pull.ref);
  return (await client.headManifest(pull.ref.repository, selector)) ?? (await client.getManifest(pull.ref.repository, selector)).digest;
}

/** manifest.json + oci-source.json of an intact OCI image dir, or undefined. */
async function readOciImage(dir: string): Promise<{ manifest: ImageManifest; source: OciSource } | undefined> {
  if (!existsSync(join(dir, ROOTFS_FILE))) return undefined;
  const manifest = await readManifest(dir).catch(() => undefined);
  const source = await readFile(join(dir, OCI_SOURCE_FILE), 'utf8').then(
    (text) => JSON.parse(text) as OciSource,
    () => undefined,
  );
  if (!manifest || !source?.manifestDigest || !source.reference) return undefined;
  return { manifest, source };
}

/**
 * Replaces `dir` with the complete `staging` dir: the old image (a re-pull
 * after the tag moved) is moved aside first and removed after, so `dir` is
 * never half-written.
 */
async function swapInto(staging: string, dir: string): Promise<void> {
  const old = existsSync(dir) ? tempSibling(dir) : undefined;
  if (old) await rename(dir, old);
  try {
    await rename(staging, dir);
  } catch (error) {
    if (old) await rename(old, dir);
    throw error;
  }
  if (old) await rm(old, { recursive: true, force: true });
}

const shortDigest = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

/** Whether a row came from an OCI pull (the catalog pull refuses to overwrite one). */
export const isOciRow = (images: ImageRecords, row: ImageRow): boolean => images.ociSource(row) !== undefined;
