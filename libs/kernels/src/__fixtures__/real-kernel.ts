import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildDirAtomically, findExecutable, run } from '@banger/host';
import { testCacheRoot, testDebianMirror } from '@banger/host/testing';
import { openDebianArchive, type DebianArchive } from '../debian-archive/index.js';
import { resolveKernelPackage, unpackDeb, type DebianPackageRef } from '../debian-package.js';

/** Where tests keep big downloads between runs (a cold run fills it); see testCacheRoot. */
export const testCacheDir = testCacheRoot();

/** Why the real-kernel tests cannot run here, or undefined when they can. */
export function realKernelSkipReason(): string | undefined {
  for (const tool of ['gpgv', 'dpkg-deb', 'depmod']) {
    if (!findExecutable(tool)) return `${tool} is not installed`;
  }
  return undefined;
}

export interface UnpackedKernel {
  ref: DebianPackageRef;
  deb: string;
  /** The unpacked package (boot/, lib/modules/<kver>/ with depmod output). */
  root: string;
  kernelVersion: string;
  vmlinuz: string;
}

let archive: Promise<DebianArchive> | undefined;

/** The test mirror's bookworm archive, opened (and its index verified) once per test file. */
export const testArchive = (): Promise<DebianArchive> => (archive ??= openDebianArchive({ debian: { mirror: testDebianMirror() }, cacheDir: join(testCacheDir, 'kernels') }));

/** Downloads (once) and unpacks (once) a Debian kernel package into the test cache. */
export async function unpackedKernel(debPackage: string): Promise<UnpackedKernel> {
  const ref = resolveKernelPackage(await testArchive(), debPackage);
  const deb = await (await testArchive()).fetchDeb(ref);
  const kernelVersion = ref.package.replace(/^linux-image-/, '');
  const root = join(testCacheDir, 'kernels', 'unpacked', `${ref.package}_${ref.version}`);
  if (!existsSync(root)) {
    await buildDirAtomically(root, async (tmp) => {
      await unpackDeb(deb, tmp);
      await run('depmod', ['-b', tmp, kernelVersion]);
    }).catch((error: unknown) => {
      if (!existsSync(root)) throw error; // another test file won the race
    });
  }
  return { ref, deb, root, kernelVersion, vmlinuz: join(root, 'boot', `vmlinuz-${kernelVersion}`) };
}
