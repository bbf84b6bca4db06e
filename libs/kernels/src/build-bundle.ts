import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BangerError, CancelledError, InternalError, UserError } from '@banger/errors';
import { buildDirAtomically, run, type DebianSource, type ProgressSink } from '@banger/host';
import { KERNEL_BUILDER_REVISION, KERNEL_NAME_PATTERN, kernelBundlePaths, readKernelBundle, writeKernelManifest, type KernelManifest } from './bundle-manifest.js';
import { openDebianArchive } from './debian-archive/index.js';
import { resolveKernelPackage, unpackDeb } from './debian-package.js';
import { extractVmlinux } from './extract-vmlinux.js';
import { buildInitrd } from './initrd/build-initrd.js';
import { buildModulesImage } from './modules-image.js';

/** The Debian package busybox comes from: statically linked, so it runs in the initrd alone. */
export const BUSYBOX_PACKAGE = 'busybox-static';

export interface BuildKernelBundleOptions {
  /** A linux-image package or meta package, e.g. `linux-image-cloud-amd64`. */
  debPackage: string;
  /** The kernel's banger name, e.g. `debian-cloud`. */
  name: string;
  /** The bundle directory to create (atomically). */
  outDir: string;
  /** Where verified indexes and downloaded .debs are kept (`<cacheDir>/debs`), so a rebuild does not download. */
  cacheDir: string;
  /** The Debian mirror the packages come from and the keyring it is checked with (`debian_mirror`, `debian_keyring`). */
  debian?: DebianSource;
  /** Boot modules for the initrd; DEFAULT_BOOT_MODULES by default. */
  bootModules?: readonly string[];
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/**
 * Builds a kernel bundle from a Debian kernel package: resolves the meta
 * package to the versioned image package, fetches it (and busybox-static)
 * from the Debian mirror into `cacheDir` (InRelease checked with gpgv against
 * Debian's keyring, then every index and .deb against its signed hash; the
 * host's apt sources are not used), unpacks it, runs depmod when needed,
 * extracts the ELF vmlinux, writes the initrd and modules.ext4, copies the
 * .config and writes manifest.json. Everything happens in
 * `<outDir>.tmp-<pid>-<random>`, renamed to `outDir` at the end.
 *
 * When `outDir` already holds an intact bundle of the same name, package
 * version and builder revision it is returned unchanged (no download, no
 * rebuild); a damaged or older one is replaced.
 */
export async function buildKernelBundle(options: BuildKernelBundleOptions): Promise<KernelManifest> {
  const { name, outDir, signal, progress } = options;
  if (!KERNEL_NAME_PATTERN.test(name)) {
    throw new UserError('KERNEL_BAD_NAME', `invalid kernel name ${JSON.stringify(name)}: use lower-case letters, digits, '.', '_' and '-'`);
  }
  const archive = await openDebianArchive({
    cacheDir: options.cacheDir,
    ...(options.debian ? { debian: options.debian } : {}),
    ...(signal ? { signal } : {}),
    ...(progress ? { progress } : {}),
  });
  const ref = resolveKernelPackage(archive, options.debPackage);
  progress?.line?.(`${options.debPackage}: ${ref.package} ${ref.version}`);

  let replace = false;
  if (existsSync(outDir)) {
    const existing = await readKernelBundle(outDir).catch((error: unknown) => error as Error);
    if (
      !(existing instanceof Error) &&
      existing.name === name &&
      existing.source.package === ref.package &&
      existing.source.packageVersion === ref.version &&
      existing.builderRevision >= KERNEL_BUILDER_REVISION
    ) {
      progress?.line?.(`kernel ${name} ${existing.version} is already built`);
      return existing;
    }
    progress?.line?.(existing instanceof Error ? `replacing damaged bundle: ${existing.message}` : `replacing ${existing.source.package} ${existing.source.packageVersion}`);
    replace = true;
  }

  const kernelDeb = await archive.fetchDeb(ref);
  const busyboxDeb = await archive.fetchDeb(archive.get(BUSYBOX_PACKAGE));

  return buildDirAtomically(
    outDir,
    async (tmp) => {
      const work = join(tmp, '.work');
      const kernelRoot = join(work, 'kernel');
      const busyboxRoot = join(work, 'busybox');
      const paths = kernelBundlePaths(tmp);

      progress?.line?.(`unpacking ${ref.package}`);
      await unpackDeb(kernelDeb, kernelRoot, signal);
      await unpackDeb(busyboxDeb, busyboxRoot, signal);
      const kernelVersion = await findKernelVersion(kernelRoot, ref.package);
      const moduleDir = join(kernelRoot, 'lib/modules', kernelVersion);
      if (!existsSync(join(moduleDir, 'modules.dep'))) {
        progress?.line?.(`running depmod for ${kernelVersion}`);
        await run('depmod', ['-b', kernelRoot, kernelVersion], { signal });
      }
      throwIfCancelled(signal, `building kernel ${name}`);

      progress?.line?.('extracting vmlinux');
      const vmlinuz = join(kernelRoot, 'boot', `vmlinuz-${kernelVersion}`);
      const { elf, compression } = await extractVmlinux(await readFile(vmlinuz), { file: `${ref.package}:/boot/vmlinuz-${kernelVersion}`, signal });
      await writeFile(paths.vmlinux, elf);
      throwIfCancelled(signal, `building kernel ${name}`);

      progress?.line?.('building initrd');
      const initrd = await buildInitrd({
        kernelRoot,
        kernelVersion,
        busybox: join(busyboxRoot, 'bin/busybox'),
        ...(options.bootModules ? { modules: options.bootModules } : {}),
        signal,
      });
      await writeFile(paths.initrd, initrd.image);
      progress?.line?.(`initrd: ${initrd.resolution.load.length} modules (${initrd.resolution.load.map((m) => m.name).join(' ')})`);
      throwIfCancelled(signal, `building kernel ${name}`);

      progress?.line?.('building modules.ext4');
      await buildModulesImage(join(kernelRoot, 'lib/modules'), paths.modules, { signal });
      await copyFile(join(kernelRoot, 'boot', `config-${kernelVersion}`), paths.config);
      await rm(work, { recursive: true, force: true });
      throwIfCancelled(signal, `building kernel ${name}`);

      const manifest = await writeKernelManifest(tmp, {
        name,
        version: kernelVersion,
        source: { package: ref.package, packageVersion: ref.version },
        bootModules: initrd.resolution.load.map((m) => m.name),
        compression,
        builtAt: new Date().toISOString(),
        builderRevision: KERNEL_BUILDER_REVISION,
      });
      progress?.line?.(`built kernel ${name} ${kernelVersion}`);
      return manifest;
    },
    { replace },
  ).catch((error: unknown) => {
    if (error instanceof BangerError) throw error;
    throw new InternalError('KERNEL_BUILD_FAILED', `cannot build kernel ${name} from ${options.debPackage}: ${(error as Error).message}`, { cause: error });
  });
}

/** The single lib/modules/<kver> directory of an unpacked kernel package. */
async function findKernelVersion(root: string, pkg: string): Promise<string> {
  const versions = await readdir(join(root, 'lib/modules')).catch(() => [] as string[]);
  const withKernel = versions.filter((v) => existsSync(join(root, 'boot', `vmlinuz-${v}`)));
  if (withKernel.length !== 1) {
    throw new UserError('DEB_NOT_A_KERNEL', `cannot build a kernel from ${pkg}: expected one /boot/vmlinuz-<version> with /lib/modules/<version>, found ${withKernel.length}`, {
      hint: 'pass a linux-image-* package',
    });
  }
  return withKernel[0]!;
}

/** Throws CancelledError when `signal` is aborted; called between long steps. */
function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new CancelledError(`${what}: cancelled`);
}
