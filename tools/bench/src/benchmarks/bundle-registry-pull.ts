// Issue 22: pulling a published image bundle from an OCI registry on loopback.
// banger = resolveImageEntry (artifact manifest by tag, digest-verified, must be
// a banger image bundle) + pullImage (resumable download of the rootfs blob,
// sha256 = the layer digest, zstd -d into a sparse rootfs.ext4, size + sha256
// check against the bundle's manifest.json layer, /root skeleton, manifest.json,
// atomic rename) vs what a user would chain by hand: `skopeo copy` of the
// artifact into an OCI layout (skopeo verifies every blob's digest) and
// `zstd -d` of the rootfs layer. Same 4 GiB / ~700 MB-used image as the
// `image pull` row over plain http, so the two rows compare.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findExecutable, run } from '@banger/host';
import { pullImage, type CatalogEntry } from '@banger/images';
import { BundleArtifact, publishImageBundle, resolveImageEntry } from '@banger/oci';
import { startRegistry, type TestRegistry } from '@banger/oci/testing';
import { defineBenchmark } from '../benchmark.js';
import { logSetup, makeWorkDir } from '../fixtures/cache-dir.js';
import { allocatedBytes, ensureBenchImage, type BenchImage } from '../fixtures/rootfs-image.js';

interface Context {
  image: BenchImage;
  registry: TestRegistry;
  reference: string;
  entry: CatalogEntry;
  work: string;
}

async function setup(): Promise<Context> {
  const image = await ensureBenchImage();
  const work = await makeWorkDir('bundle-registry');
  const registry = await startRegistry(join(work, 'registry'));
  const reference = `oci://${registry.host}/bench/image:1`;
  const started = performance.now();
  const published = await publishImageBundle(image.dir, { reference, workDir: join(work, 'publish') });
  logSetup(`published ${published.reference}@${published.digest} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const { entry } = await resolveImageEntry({ name: 'bench-4g', description: 'bench', oci: reference });
  logSetup(`rootfs layer: ${Math.round(entry.bundle!.size / 2 ** 20)} MiB compressed, ${entry.bundle!.uncompressedSize / 2 ** 30} GiB rootfs`);
  return { image, registry, reference, entry: { name: 'bench-4g', description: 'bench', oci: reference }, work };
}

async function teardown(ctx: Context): Promise<void> {
  await ctx.registry.stop();
  await rm(ctx.work, { recursive: true, force: true });
}

async function bangerPull(ctx: Context): Promise<void> {
  const destDir = join(ctx.work, 'banger-image');
  const cacheDir = join(ctx.work, 'banger-cache');
  await rm(destDir, { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
  // Resolution is timed too: the manifest round trip is part of a registry pull.
  const { entry, headers } = await resolveImageEntry(ctx.entry);
  const manifest = await pullImage({ entry, ...(headers ? { headers } : {}), destDir, cacheDir });
  if (manifest.sizeBytes !== ctx.image.sizeBytes) throw new Error(`pulled rootfs is ${manifest.sizeBytes} bytes, expected ${ctx.image.sizeBytes}`);
  await expectSparse(join(destDir, 'rootfs.ext4'), ctx.image);
}

async function skopeoPull(ctx: Context): Promise<void> {
  const layout = join(ctx.work, 'skopeo-layout');
  const rootfs = join(ctx.work, 'skopeo-rootfs.ext4');
  await rm(layout, { recursive: true, force: true });
  await rm(rootfs, { force: true });
  await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ctx.reference.slice('oci://'.length)}`, `oci:${layout}:1`]);
  // The layout's index names the manifest; its rootfs layer is the blob to decompress.
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifestBlob = join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7));
  const manifest = JSON.parse(await readFile(manifestBlob, 'utf8')) as { layers: { mediaType: string; digest: string }[] };
  const layer = manifest.layers.find((l) => l.mediaType === BundleArtifact.layerType.rootfs)!;
  await run('zstd', ['-d', '-q', '-f', '-o', rootfs, join(layout, 'blobs', 'sha256', layer.digest.slice(7))]);
  await expectSparse(rootfs, ctx.image);
}

async function expectSparse(path: string, image: BenchImage): Promise<void> {
  const allocated = await allocatedBytes(path);
  if (allocated > image.usedBytes * 1.5) throw new Error(`${path} is not sparse: ${allocated} bytes allocated for ${image.usedBytes} used`);
}

export default defineBenchmark<Context>({
  name: 'bundle pull from an OCI registry (4 GiB image, ~700 MB used, loopback docker-registry)',
  baseline: '`skopeo copy docker://… oci:dir:tag` of the artifact + `zstd -d -o rootfs.ext4` of its rootfs layer',
  runs: 5,
  skip: () => {
    const missing = ['docker-registry', 'skopeo', 'zstd'].filter((t) => !findExecutable(t));
    return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
  },
  setup,
  teardown,
  banger: bangerPull,
  runBaseline: skopeoPull,
});
