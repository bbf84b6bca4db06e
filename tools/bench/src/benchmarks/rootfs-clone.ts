// Issue 11 #4: making a VM's rootfs from a 4 GiB image with ~700 MB used.
// banger = cloneRootfs (reflink, else sparse copy, then grow; here the same
// size, so no grow) vs `cp --sparse=always`, and vs `cp --reflink=always`
// where the file system can do it. Both sides write into the same directory,
// next to the image (a reflink needs one file system), and each removes its
// previous copy first so the disk does not fill up (both pay that).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '@banger/host';
import { cloneRootfs } from '@banger/vm';
import { defineBenchmark } from '../benchmark.js';
import { benchCacheDir, makeWorkDir } from '../fixtures/cache-dir.js';
import { reflinkProblem } from '../fixtures/reflink.js';
import { allocatedBytes, ensureBenchImage, type BenchImage } from '../fixtures/rootfs-image.js';

interface Context {
  image: BenchImage;
  work: string;
}

async function setup(): Promise<Context> {
  const image = await ensureBenchImage();
  // Beside the cached image, not in /tmp: a reflink cannot cross file systems.
  const work = await makeWorkDir('clone');
  return { image, work };
}

async function teardown(ctx: Context): Promise<void> {
  await rm(ctx.work, { recursive: true, force: true });
}

async function bangerClone(ctx: Context): Promise<void> {
  const dest = join(ctx.work, 'banger.ext4');
  await rm(dest, { force: true });
  const result = await cloneRootfs(ctx.image.rootfs, dest, ctx.image.sizeBytes);
  if (result.sizeBytes !== ctx.image.sizeBytes) throw new Error(`cloneRootfs made ${result.sizeBytes} bytes, expected ${ctx.image.sizeBytes}`);
  await expectSparse(dest, ctx.image);
}

function cpWith(flag: string): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const dest = join(ctx.work, 'cp.ext4');
    await rm(dest, { force: true });
    await run('cp', [flag, ctx.image.rootfs, dest]);
    await expectSparse(dest, ctx.image);
  };
}

/** A copy that allocated the whole 4 GiB would make the numbers lie: fail loudly instead. */
async function expectSparse(path: string, image: BenchImage): Promise<void> {
  const allocated = await allocatedBytes(path);
  if (allocated > image.usedBytes * 1.5) throw new Error(`${path} is not sparse: ${allocated} bytes allocated for ${image.usedBytes} used`);
}

const NAME = 'rootfs clone (4 GiB image, ~700 MB used)';

export default [
  defineBenchmark<Context>({
    name: NAME,
    baseline: '`cp --sparse=always image copy` into the same directory',
    runs: 5,
    setup,
    teardown,
    banger: bangerClone,
    runBaseline: cpWith('--sparse=always'),
  }),
  defineBenchmark<Context>({
    name: `${NAME} vs reflink`,
    baseline: '`cp --reflink=always image copy` (copy-on-write; only on btrfs/XFS-like file systems)',
    runs: 5,
    skip: () => reflinkProblem(benchCacheDir()),
    setup,
    teardown,
    banger: bangerClone,
    runBaseline: cpWith('--reflink=always'),
  }),
];
