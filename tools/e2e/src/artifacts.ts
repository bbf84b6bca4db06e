import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureTestImage } from '@banger/images';
import { kernelBundlePaths, readKernelBundle, type KernelBundlePaths } from '@banger/kernels';
import { ensureTestKernel } from '@banger/kernels/testing';
import { testCacheRoot } from '@banger/host/testing';
import type { ProgressSink } from '@banger/host';

/** The artefacts the VM tests boot, as the prepare step left them. */
export interface E2eArtifacts {
  /** Kernel bundle directory (vmlinux, initrd.img, modules.ext4, manifest.json). */
  kernelDir: string;
  /** `uname -r` the guest must report. */
  kernelVersion: string;
  /** Image directory holding rootfs.ext4 (debian-minimal). */
  imageDir: string;
  /**
   * Every image the prepare step built or reused, by recipe name. Recorded
   * rather than searched for: inside the netns a recipe's hash cannot be
   * recomputed, and the newest dir of a name may come from another checkout.
   */
  images?: Record<string, string>;
}

export const cacheDir = (): string => testCacheRoot();
const pointerFile = () => join(cacheDir(), 'e2e', 'artifacts.json');

async function readPointer(): Promise<E2eArtifacts | undefined> {
  if (!existsSync(pointerFile())) return undefined;
  return JSON.parse(await readFile(pointerFile(), 'utf8')) as E2eArtifacts;
}

async function writePointer(artifacts: E2eArtifacts): Promise<void> {
  await mkdir(join(cacheDir(), 'e2e'), { recursive: true });
  const tmp = `${pointerFile()}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(artifacts, null, 2)}\n`);
  await rename(tmp, pointerFile());
}

/**
 * Builds (or reuses) the debian-cloud kernel bundle and the debian-minimal test
 * image under the test cache and records where they are. Needs the network
 * (apt, mmdebstrap), so it runs in the host namespace before the netns step.
 */
export async function prepareArtifacts(progress?: ProgressSink): Promise<E2eArtifacts> {
  const kernel = await ensureTestKernel(progress);
  const imageDir = await ensureTestImage(cacheDir(), progress);
  const before = await readPointer();
  const artifacts: E2eArtifacts = {
    kernelDir: kernel.dir,
    kernelVersion: kernel.manifest.version,
    imageDir,
    images: { ...before?.images, 'debian-minimal': imageDir },
  };
  await writePointer(artifacts);
  return artifacts;
}

/**
 * Builds (or reuses) the image of `recipe` (a built-in recipe name or a
 * recipe file) and records it under `name` for the netns step. Call after
 * prepareArtifacts.
 */
export async function prepareImage(name: string, recipe: string, progress?: ProgressSink): Promise<string> {
  const dir = await ensureTestImage(cacheDir(), progress, recipe);
  const pointer = await readPointer();
  if (!pointer) throw new Error(`prepare the kernel and base image first (${pointerFile()} missing)`);
  await writePointer({ ...pointer, images: { ...pointer.images, [name]: dir } });
  return dir;
}

/** The dir of the image the prepare step recorded under `name`, or undefined when it did not. */
export async function preparedImage(name: string): Promise<string | undefined> {
  const dir = (await readPointer())?.images?.[name];
  return dir && existsSync(join(dir, 'rootfs.ext4')) ? dir : undefined;
}

/**
 * The artefacts recorded by the prepare step, verified (offline: inside the
 * netns there is no way to download). Throws with the command to run when
 * they are missing.
 */
export async function loadArtifacts(): Promise<E2eArtifacts & { kernel: KernelBundlePaths; rootfs: string }> {
  const hint = 'run the prepare step first: cd tools/e2e && npx vitest run --config vitest.prepare.config.ts';
  const artifacts = await readPointer();
  if (!artifacts) throw new Error(`e2e artefacts not prepared (${pointerFile()} missing); ${hint}`);
  const manifest = await readKernelBundle(artifacts.kernelDir);
  const rootfs = join(artifacts.imageDir, 'rootfs.ext4');
  if (!existsSync(rootfs)) throw new Error(`test image ${rootfs} is missing; ${hint}`);
  return { ...artifacts, kernelVersion: manifest.version, kernel: kernelBundlePaths(artifacts.kernelDir), rootfs };
}
