import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConflictError, InternalError } from '@banger/errors';
import { cleanStaleTemps, tempSibling, writeJsonAtomic } from '@banger/host';
import {
  MANIFEST_FILE,
  ROOTFS_FILE,
  assertImageName,
  imageLockKey,
  imageOciOrigin,
  imageOrigin,
  imagePullGraphId,
  readManifest,
  registerImage,
  registerRootfs,
  type ImageHome,
  type ImageManifest,
  type ImageOciOrigin,
} from '@banger/images';
import type { Graph, GraphRunOutcome, GraphRunner, Satisfaction, Step, StepEvent } from '@banger/taskgraph';
import { loadDockerCredentials } from './docker-config.js';
import { asOciPull } from './oci-cache-gate.js';
import { pullOciImage } from './pull.js';
import { formatReference, imageNameForReference, manifestSelector, parseReference, type ImageReference } from './reference.js';
import { RegistryClient } from './registry-client.js';

/** Sidecar in an OCI image dir: where the rootfs came from (manifest.json's schema has no room for digests). */
export const OCI_SOURCE_FILE = 'oci-source.json';
/** The kernel VMs from a pulled image boot by default (the same default as `image register`). */
const DEFAULT_KERNEL = 'debian-cloud';

/**
 * Where OCI images live and are recorded: the images home (`<imagesDir>/<name>`,
 * the `images` table, the blob cache under `cacheDir`) plus the state dir
 * whose `oci-work/<name>` holds a pull's scratch.
 */
export interface OciImageHome extends Pick<ImageHome, 'imagesDir' | 'cacheDir' | 'table'> {
  stateDir: string;
}

/** What `image pull <reference>` asks for. */
export interface OciPullRequest {
  /** `registry/repo:tag`, `repo@sha256:…`, or a Docker Hub short name. */
  reference: string;
  /** The image name; default `imageNameForReference`. */
  name?: string;
  /** Allow plain http for a non-loopback registry. */
  insecure?: boolean;
  /** `--provision` / `--no-provision`; undefined lets the pull decide. */
  provision?: boolean;
}

/** What an OCI pull streams and whether it only plans. */
export interface OciPullRun {
  signal: AbortSignal;
  emit: (event: StepEvent) => void;
  explain?: boolean;
}

/** What the `image.oci-pull` step records (and `image.register` reads). */
export interface OciPullOutput extends ImageOciOrigin {
  version: string;
  warnings: string[];
}

/** The graph's outcome, the image name and normalised reference, and what `image.oci-pull` recorded (undefined when explained). */
export type OciPullOutcome = GraphRunOutcome & { name: string; reference: string; pulled: OciPullOutput | undefined };

/** A resolved pull: the parsed reference and the image name it goes to. */
export interface OciPullPlan {
  ref: ImageReference;
  name: string;
  insecure: boolean;
  provision: boolean | undefined;
}

/**
 * `image pull <reference>`: runs graph `image:<name>` under the
 * `image:<name>` lock (shared with a catalog pull of the same name) through
 * `run`: `image.oci-pull` (resolve, fetch + verify blobs, flatten, provision,
 * mkfs, stage the image dir and swap it in) → `image.register` (the `images`
 * row with the OCI digests). The name defaults to `imageNameForReference`. A
 * name already registered from something else (a catalog image, another
 * reference) is refused. Waits for a running `image prune`.
 */
export async function pullRegistryImage(home: OciImageHome, request: OciPullRequest, run: GraphRunner, options: OciPullRun): Promise<OciPullOutcome> {
  const ref = parseReference(request.reference);
  const name = request.name ?? imageNameForReference(ref);
  assertImageName(name);
  const reference = formatReference(ref);
  assertNameFree(home, name, reference);
  return asOciPull(async () => {
    const outcome = await run({
      graphId: imagePullGraphId(name),
      lockKey: imageLockKey(name),
      steps: ociPullGraph(home, { ref, name, insecure: request.insecure ?? false, provision: request.provision }),
      signal: options.signal,
      emit: options.emit,
      explain: options.explain ?? false,
    });
    const pulled = outcome.explained ? undefined : (outcome.result.outputs['image.oci-pull'] as OciPullOutput | undefined);
    return { ...outcome, name, reference, pulled };
  });
}

/** Refuses to pull over an image registered from something else than this reference. */
function assertNameFree(home: Pick<ImageHome, 'table'>, name: string, shown: string): void {
  const row = home.table.find(name);
  if (!row) return;
  const oci = imageOciOrigin(row);
  if (oci?.reference === shown) return;
  const from = oci ? oci.reference : imageOrigin(row);
  throw new ConflictError('IMAGE_EXISTS', `cannot pull ${shown} as image ${name}: ${name} is already registered from ${from}`, {
    hint: `pick another name with --name, or remove it first with banger image rm ${name}`,
  });
}

/** `image.oci-pull` → `image.register` for one resolved pull. */
export function ociPullGraph(home: OciImageHome, pull: OciPullPlan): Graph {
  const dir = join(home.imagesDir, pull.name);
  const shown = formatReference(pull.ref);
  const fetch: Step<OciPullOutput> = {
    id: 'image.oci-pull',
    title: `Pull ${shown}`,
    needs: [],
    // Only the reference: --insecure is transport, and --provision/--no-provision are checked against what was done (upToDate).
    inputs: () => ({ reference: shown }),
    isSatisfied: (plan) => upToDate(dir, pull, plan.signal),
    run: async (step, report) => {
      assertNameFree(home, pull.name, shown);
      // One scratch dir per attempt, named for its pid: leftovers of a killed daemon are removed by the next pull.
      const workBase = join(home.stateDir, 'oci-work', pull.name);
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
          cacheDir: home.cacheDir,
          workDir,
          outRootfs: scratchRootfs,
          ...(pull.insecure ? { insecure: true } : {}),
          ...(pull.provision !== undefined ? { provision: pull.provision } : {}),
          signal: step.signal,
          progress: report,
        });
        report.line(`writing image ${pull.name}`);
        const registered = await registerRootfs({ name: pull.name, rootfsPath: scratchRootfs, destDir: staging, kernel: DEFAULT_KERNEL, signal: step.signal });
        const source: ImageOciOrigin = {
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
      const row = home.table.find(pull.name);
      if (!row) return { satisfied: false, reason: 'not registered' };
      const onDisk = await readOciImage(dir);
      const recorded = imageOciOrigin(row);
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
      registerImage(home, pull.name, dir, onDisk.manifest, onDisk.source);
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
export async function readOciImage(dir: string): Promise<{ manifest: ImageManifest; source: ImageOciOrigin } | undefined> {
  if (!existsSync(join(dir, ROOTFS_FILE))) return undefined;
  const manifest = await readManifest(dir).catch(() => undefined);
  const source = await readFile(join(dir, OCI_SOURCE_FILE), 'utf8').then(
    (text) => JSON.parse(text) as ImageOciOrigin,
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
