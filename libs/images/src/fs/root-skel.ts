import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debugfsQuote, debugfsRequest, run } from '@banger/host';

/**
 * Writes `/root` of an ext4 image as a tar (root-owned entries, numeric ids)
 * without mounting it: `debugfs rdump` into a temp dir, then tar. The VM layer
 * unpacks it onto each new work disk, which hides the image's /root.
 * An image without /root yields an empty tar with just ".".
 */
export async function extractRootSkel(rootfs: string, outTar: string, signal?: AbortSignal): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-root-skel-'));
  try {
    await debugfsRequest(rootfs, `rdump /root ${debugfsQuote(dir)}`, { ...(signal ? { signal } : {}) });
    const root = join(dir, 'root');
    const source = existsSync(root) ? root : dir;
    await run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', source, '-cf', outTar, '.'], { signal });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
