import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureTestImage } from '@banger/images';
import type { ProgressSink } from '@banger/host';
import { cacheDir } from './artifacts.js';

/** The recipe of the `vm run` workspace tests' image: debian-minimal plus git. */
export const VM_RUN_RECIPE = join(import.meta.dirname, 'fixtures', 'vm-run-git.toml');

/**
 * Builds (or reuses) the vm-run-git image in the test cache. Needs the
 * network (mmdebstrap), so it runs in the prepare step, outside the netns:
 * `tools/e2e/src/prepare-artifacts.test.ts` should call it after the
 * debian-minimal image (or run `node` on a bundle of this file by hand).
 */
export async function prepareVmRunImage(progress?: ProgressSink): Promise<string> {
  return ensureTestImage(cacheDir(), progress, VM_RUN_RECIPE);
}

/** The vm-run-git image dir the prepare step left in the cache (see findCachedImage). */
export const findVmRunImage = (): Promise<string | undefined> => findCachedImage('vm-run-git');

/**
 * The newest image dir named `name` in the test cache, found offline by its
 * manifest (inside the netns the recipe's package versions cannot be
 * resolved to recompute its hash), or undefined when it was never built.
 */
export async function findCachedImage(name: string): Promise<string | undefined> {
  const images = join(cacheDir(), 'images');
  if (!existsSync(images)) return undefined;
  let best: { dir: string; mtime: number } | undefined;
  for (const entry of await readdir(images)) {
    const manifest = join(images, entry, 'manifest.json');
    if (!existsSync(manifest) || !existsSync(join(images, entry, 'rootfs.ext4'))) continue;
    const parsed = JSON.parse(await readFile(manifest, 'utf8')) as { name?: string };
    const mtime = (await stat(manifest)).mtimeMs;
    if (parsed.name === name && (!best || mtime > best.mtime)) best = { dir: join(images, entry), mtime };
  }
  return best?.dir;
}
