// Issue 11 #5: pulling a published image bundle from a loopback HTTP server.
// banger = pullImage (download with resume support, sha256 of the bundle,
// zstd -d into a sparse rootfs.ext4, size + sha256 check of the rootfs
// against the published manifest, /root skeleton extraction, manifest.json,
// atomic rename) vs the shell pipeline a user would write:
// `curl -s URL | tee bundle.zst | zstd -d -o rootfs.ext4` + `sha256sum -c`.
// The bundle is the 4 GiB / ~700 MB-used image of the clone benchmark,
// published once with publishImage and cached.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '@banger/host';
import { parseIndex, publishImage, pullImage, type CatalogEntry } from '@banger/images';
import { defineBenchmark } from '../benchmark.js';
import { cachedArtefact, logSetup, makeWorkDir } from '../fixtures/cache-dir.js';
import { allocatedBytes, ensureBenchImage, type BenchImage } from '../fixtures/rootfs-image.js';
import { serveDirectory, type StaticServer } from '../fixtures/static-server.js';

interface Context {
  image: BenchImage;
  entry: CatalogEntry;
  server: StaticServer;
  work: string;
  run: number;
  /** Per banger run: ms spent downloading, verifying the bundle, and installing (decompress, rootfs sha256, skeleton). */
  phases: { download: number; verify: number; install: number }[];
}

async function setup(): Promise<Context> {
  const image = await ensureBenchImage();
  const published = await cachedArtefact('published-4g-v1', async (dir) => void (await publishImage(image.dir, dir)));
  const index = parseIndex(await readFile(join(published, 'index.json'), 'utf8'), join(published, 'index.json'));
  const listed = index.images.find((e) => e.name === 'bench-4g');
  if (!listed?.bundle) throw new Error(`${published}/index.json lists no bench-4g bundle`);
  const server = await serveDirectory(published);
  // index.json's URLs are relative to it; pullImage gets them resolved, as imageCatalog() would.
  const entry: CatalogEntry = {
    ...listed,
    bundle: {
      ...listed.bundle,
      url: new URL(listed.bundle.url, server.url).href,
      ...(listed.bundle.manifestUrl ? { manifestUrl: new URL(listed.bundle.manifestUrl, server.url).href } : {}),
    },
  };
  logSetup(`bundle: ${Math.round(entry.bundle!.size / 2 ** 20)} MiB compressed, ${entry.bundle!.uncompressedSize / 2 ** 30} GiB rootfs, served at ${entry.bundle!.url}`);
  const work = await makeWorkDir('pull');
  return { image, entry, server, work, run: 0, phases: [] };
}

async function teardown(ctx: Context): Promise<void> {
  await ctx.server.close();
  await rm(ctx.work, { recursive: true, force: true });
  if (ctx.phases.length > 0) {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ms = (key: keyof Context['phases'][number]) => `${Math.round(median(ctx.phases.map((p) => p[key])))} ms`;
    logSetup(`where banger's pull time goes (medians): download ${ms('download')}, bundle sha256 ${ms('verify')}, install (zstd -d, rootfs sha256, /root skeleton) ${ms('install')}`);
  }
}

async function bangerPull(ctx: Context): Promise<void> {
  const destDir = join(ctx.work, 'banger-image');
  const cacheDir = join(ctx.work, 'banger-cache');
  await rm(destDir, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
  const start = performance.now();
  let downloaded = 0;
  let verified = 0;
  const manifest = await pullImage({
    entry: ctx.entry,
    destDir,
    cacheDir,
    progress: {
      bytes: (done, total) => {
        if (done === total && downloaded === 0) downloaded = performance.now();
      },
      line: (text) => {
        if (text.startsWith('decompressing')) verified = performance.now();
      },
    },
  });
  const end = performance.now();
  if (ctx.run++ > 0) ctx.phases.push({ download: downloaded - start, verify: verified - downloaded, install: end - verified });
  if (manifest.sizeBytes !== ctx.image.sizeBytes) throw new Error(`pulled rootfs is ${manifest.sizeBytes} bytes, expected ${ctx.image.sizeBytes}`);
  await expectSparse(join(destDir, 'rootfs.ext4'), ctx.image);
}

async function curlPull(ctx: Context): Promise<void> {
  const bundle = join(ctx.work, 'curl-bundle.zst');
  const rootfs = join(ctx.work, 'curl-rootfs.ext4');
  await rm(bundle, { force: true });
  await rm(rootfs, { force: true });
  // zstd writes sparse output with -o (never to stdout), so the baseline does not pay for 3.3 GB of zeros.
  const script = [
    'set -euo pipefail',
    `curl -sSf "$URL" | tee "$BUNDLE" | zstd -d -q -f -o "$ROOTFS"`,
    `echo "$SHA256  $BUNDLE" | sha256sum -c --quiet -`,
  ].join('\n');
  await run('bash', ['-c', script], {
    env: { URL: ctx.entry.bundle!.url, BUNDLE: bundle, ROOTFS: rootfs, SHA256: ctx.entry.bundle!.sha256 },
  });
  await expectSparse(rootfs, ctx.image);
}

async function expectSparse(path: string, image: BenchImage): Promise<void> {
  const allocated = await allocatedBytes(path);
  if (allocated > image.usedBytes * 1.5) throw new Error(`${path} is not sparse: ${allocated} bytes allocated for ${image.usedBytes} used`);
}

export default defineBenchmark<Context>({
  name: 'image pull (4 GiB image, ~700 MB used, loopback http)',
  baseline: '`curl -s URL | tee b.zst | zstd -d -o rootfs.ext4` + `sha256sum -c` of the bundle (bash pipeline)',
  runs: 5,
  setup,
  teardown,
  banger: bangerPull,
  runBaseline: curlPull,
});
