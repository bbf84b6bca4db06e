import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ConflictError } from '@banger/errors';
import { cleanStaleTemps, run, sha256File, tempSibling, writeJsonAtomic } from '@banger/host';
import { removeTree } from './build/remove-tree.js';
import { extractRootSkel } from './fs/root-skel.js';
import { checkRootfs, inspectRootfs } from './inspect/inspect-rootfs.js';
import { MANIFEST_FILE, ROOT_SKEL_FILE, ROOTFS_FILE, type ImageManifest } from './manifest.js';

export interface RegisterRootfsOptions {
  name: string;
  /** The user's ext4 file; it is copied, never modified. */
  rootfsPath: string;
  /** The image dir to create; must not exist yet. */
  destDir: string;
  /** Default kernel name for VMs from this image (`debian-cloud` when omitted). */
  kernel?: string;
  signal?: AbortSignal;
}

/**
 * `image register`: checks a local rootfs (ext4 with /sbin/init, else a
 * UserError naming the file), copies it sparsely (reflink when the
 * filesystem can) into a new image dir with root-skel.tar and manifest.json,
 * atomically. Returns the manifest and warnings (e.g. no sshd).
 */
export async function registerRootfs(options: RegisterRootfsOptions): Promise<{ manifest: ImageManifest; warnings: string[] }> {
  const source = resolve(options.rootfsPath);
  const report = await inspectRootfs(source);
  const warnings = checkRootfs(source, report);
  const { destDir, signal } = options;
  await mkdir(dirname(destDir), { recursive: true });
  await cleanStaleTemps(destDir, removeTree);
  if (existsSync(destDir)) {
    throw new ConflictError('IMAGE_EXISTS', `image ${options.name}: ${destDir} already exists`, { hint: `pick another --name or remove the image first (banger image rm ${options.name})` });
  }
  const tmp = tempSibling(destDir);
  await mkdir(tmp);
  try {
    const rootfs = join(tmp, ROOTFS_FILE);
    await run('cp', ['--sparse=always', '--reflink=auto', source, rootfs], { signal });
    await extractRootSkel(rootfs, join(tmp, ROOT_SKEL_FILE), signal);
    const sha256 = await sha256File(rootfs, signal);
    const manifest: ImageManifest = {
      name: options.name,
      version: sha256.slice(0, 12),
      sizeBytes: report.sizeBytes,
      files: {
        [ROOTFS_FILE]: { sha256, size: report.sizeBytes },
        [ROOT_SKEL_FILE]: { sha256: await sha256File(join(tmp, ROOT_SKEL_FILE)), size: (await stat(join(tmp, ROOT_SKEL_FILE))).size },
      },
      defaultKernel: options.kernel ?? 'debian-cloud',
      packages: [],
      builtAt: new Date().toISOString(),
      source: `register:${source}`,
    };
    await writeJsonAtomic(join(tmp, MANIFEST_FILE), manifest);
    await rename(tmp, destDir);
    return { manifest, warnings };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}
