import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultTestCacheDir, ensureTestImage } from '@banger/images';
import { buildKernelBundle, kernelBundlePaths, readKernelBundle, type KernelBundlePaths } from '@banger/kernels';
import type { ProgressSink } from '@banger/host';

/** The artefacts the VM tests boot, as the prepare step left them. */
export interface E2eArtifacts {
  /** Kernel bundle directory (vmlinux, initrd.img, modules.ext4, manifest.json). */
  kernelDir: string;
  /** `uname -r` the guest must report. */
  kernelVersion: string;
  /** Image directory holding rootfs.ext4. */
  imageDir: string;
}

export const cacheDir = (): string => defaultTestCacheDir();
const pointerFile = () => join(cacheDir(), 'e2e', 'artifacts.json');

/**
 * Builds (or reuses) the debian-cloud kernel bundle and the debian-minimal test
 * image under the test cache and records where they are. Needs the network
 * (apt, mmdebstrap), so it runs in the host namespace before the netns step.
 */
export async function prepareArtifacts(progress?: ProgressSink): Promise<E2eArtifacts> {
  const root = cacheDir();
  const kernelDir = join(root, 'kernels', 'bundles', 'debian-cloud');
  const manifest = await buildKernelBundle({
    debPackage: 'linux-image-cloud-amd64',
    name: 'debian-cloud',
    outDir: kernelDir,
    cacheDir: join(root, 'kernels'),
    progress,
  });
  const imageDir = await ensureTestImage(root, progress);
  const artifacts: E2eArtifacts = { kernelDir, kernelVersion: manifest.version, imageDir };
  await mkdir(join(root, 'e2e'), { recursive: true });
  const tmp = `${pointerFile()}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(artifacts, null, 2)}\n`);
  await rename(tmp, pointerFile());
  return artifacts;
}

/**
 * The artefacts recorded by the prepare step, verified (offline: inside the
 * netns there is no way to download). Throws with the command to run when
 * they are missing.
 */
export async function loadArtifacts(): Promise<E2eArtifacts & { kernel: KernelBundlePaths; rootfs: string }> {
  const hint = 'run the prepare step first: cd tools/e2e && npx vitest run --config vitest.prepare.config.ts';
  if (!existsSync(pointerFile())) throw new Error(`e2e artefacts not prepared (${pointerFile()} missing); ${hint}`);
  const artifacts = JSON.parse(await readFile(pointerFile(), 'utf8')) as E2eArtifacts;
  const manifest = await readKernelBundle(artifacts.kernelDir);
  const rootfs = join(artifacts.imageDir, 'rootfs.ext4');
  if (!existsSync(rootfs)) throw new Error(`test image ${rootfs} is missing; ${hint}`);
  return { ...artifacts, kernelVersion: manifest.version, kernel: kernelBundlePaths(artifacts.kernelDir), rootfs };
}
