import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import { NotFoundError, UserError } from '@banger/errors';
import { sha256File, writeJsonAtomic } from '@banger/host';
import type { KernelCompression } from './extract-vmlinux.js';

/** Size and sha256 of one file of a bundle. */
export interface KernelBundleFile {
  sha256: string;
  size: number;
}

/** The manifest.json of a kernel bundle (docs/kernel-catalog.md). */
export interface KernelManifest {
  /** Bundle format; bumped on incompatible changes. */
  formatVersion: 1;
  /** The kernel's banger name, e.g. `debian-cloud`. */
  name: string;
  /** Kernel release (`uname -r`), e.g. `6.1.0-57-cloud-amd64`. */
  version: string;
  /** The Debian package it was built from. */
  source: { package: string; packageVersion: string };
  files: { vmlinux: KernelBundleFile; initrd: KernelBundleFile; 'modules.ext4': KernelBundleFile; config: KernelBundleFile };
  /** Modules the initrd loads, in load order (module names). */
  bootModules: string[];
  /** How the package's bzImage was compressed. */
  compression: KernelCompression;
  /** ISO 8601 time of the build. */
  builtAt: string;
  /**
   * Revision of banger's bundle builder (initrd /init, module set, image
   * layout). A local build with an older revision is rebuilt, not reused.
   */
  builderRevision: number;
}

/** Bump when the initrd, its /init or the modules image change in a way existing bundles should pick up. */
export const KERNEL_BUILDER_REVISION = 1;

/** Where each file of a bundle lives. The VM code uses this, never literal file names. */
export interface KernelBundlePaths {
  dir: string;
  manifest: string;
  /** ELF kernel: Firecracker's `kernel_image_path`, QEMU's `-kernel`. */
  vmlinux: string;
  /** gzip newc initramfs with /init. */
  initrd: string;
  /** ext4 (label banger-modules) to attach read-only as the kernel-modules disk (vdc). */
  modules: string;
  /** The kernel .config. */
  config: string;
}

/** manifest `files` key → file name in the bundle directory. */
export const BUNDLE_FILE_NAMES = {
  vmlinux: 'vmlinux',
  initrd: 'initrd.img',
  'modules.ext4': 'modules.ext4',
  config: 'config',
} as const satisfies Record<keyof KernelManifest['files'], string>;

/** Paths of the files in the bundle at `dir`. */
export function kernelBundlePaths(dir: string): KernelBundlePaths {
  return {
    dir,
    manifest: join(dir, 'manifest.json'),
    vmlinux: join(dir, BUNDLE_FILE_NAMES.vmlinux),
    initrd: join(dir, BUNDLE_FILE_NAMES.initrd),
    modules: join(dir, BUNDLE_FILE_NAMES['modules.ext4']),
    config: join(dir, BUNDLE_FILE_NAMES.config),
  };
}

/** Kernel names: what `banger kernel pull <name>` and `default_kernel_name` accept. */
export const KERNEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const fileSchema = z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() });
const manifestSchema = z.object({
  formatVersion: z.literal(1),
  name: z.string().regex(KERNEL_NAME_PATTERN),
  version: z.string().min(1),
  source: z.object({ package: z.string().min(1), packageVersion: z.string().min(1) }),
  files: z.object({ vmlinux: fileSchema, initrd: fileSchema, 'modules.ext4': fileSchema, config: fileSchema }),
  bootModules: z.array(z.string()),
  compression: z.enum(['gzip', 'lz4', 'xz', 'zstd', 'lzma', 'bzip2', 'lzo']),
  builtAt: z.string(),
  builderRevision: z.number().int().nonnegative().default(0),
});

export interface ReadKernelBundleOptions {
  /** Hash every file and compare with the manifest (slower: ~150 MB). Sizes are always checked. */
  verify?: boolean;
}

/**
 * Reads and checks the bundle at `dir`: the manifest must parse, every file
 * must exist with the recorded size, and with `verify` its sha256 must match.
 * Throws NotFoundError when there is no manifest, UserError
 * `KERNEL_BUNDLE_CORRUPT` naming the file otherwise.
 */
export async function readKernelBundle(dir: string, options: ReadKernelBundleOptions = {}): Promise<KernelManifest> {
  const paths = kernelBundlePaths(dir);
  if (!existsSync(paths.manifest)) {
    throw new NotFoundError('KERNEL_BUNDLE_NOT_FOUND', `no kernel bundle at ${dir}: ${paths.manifest} does not exist`, {
      hint: 'point at a directory made by banger kernel build (it holds manifest.json, vmlinux, initrd.img, modules.ext4, config)',
    });
  }
  const corrupt = (why: string, hint = 'rebuild or pull the kernel again'): UserError =>
    new UserError('KERNEL_BUNDLE_CORRUPT', `kernel bundle ${dir} is damaged: ${why}`, { hint });
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(paths.manifest, 'utf8'));
  } catch (error) {
    throw corrupt(`${paths.manifest} is not valid JSON (${(error as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw corrupt(`${paths.manifest}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = parsed.data as KernelManifest;
  for (const [key, fileName] of Object.entries(BUNDLE_FILE_NAMES) as [keyof KernelManifest['files'], string][]) {
    const expected = manifest.files[key];
    const file = join(dir, fileName);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      throw corrupt(`${fileName} is missing`);
    }
    if (size !== expected.size) throw corrupt(`${fileName} is ${size} bytes, the manifest says ${expected.size}`);
    if (options.verify) {
      const actual = await sha256File(file);
      if (actual !== expected.sha256) throw corrupt(`${fileName} has sha256 ${actual}, the manifest says ${expected.sha256}`);
    }
  }
  return manifest;
}

/** Hashes the bundle's files and writes manifest.json (temp + rename); returns the manifest. */
export async function writeKernelManifest(dir: string, fields: Omit<KernelManifest, 'files' | 'formatVersion'>): Promise<KernelManifest> {
  const files = {} as KernelManifest['files'];
  for (const [key, fileName] of Object.entries(BUNDLE_FILE_NAMES) as [keyof KernelManifest['files'], string][]) {
    const file = join(dir, fileName);
    files[key] = { sha256: await sha256File(file), size: (await stat(file)).size };
  }
  const manifest: KernelManifest = { formatVersion: 1, ...fields, files };
  const paths = kernelBundlePaths(dir);
  await writeJsonAtomic(paths.manifest, manifest);
  return manifest;
}
