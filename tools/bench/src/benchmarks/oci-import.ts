// Issue 11 #6: pulling a 3-layer image from a loopback registry and
// flattening it into an ext4 rootfs.
// banger = pullOciImage (registry client, verified blob cache, safe layer
// application with whiteouts, guest-contract files, mkfs.ext4 -d) vs the
// tools a user would chain: `skopeo copy` into an OCI layout, `umoci unpack`,
// `mkfs.ext4 -d` of the unpacked rootfs into a file of the same size.
// Cold: every run starts with an empty blob cache / an empty OCI layout.
// Warm: the blobs are already local (banger's cache / the OCI layout), so
// both sides only flatten and make the ext4.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '@banger/host';
import { pullOciImage } from '@banger/oci';
import { pushImage, startRegistry, type TestRegistry } from '@banger/oci/testing';
import { defineBenchmark } from '../benchmark.js';
import { logSetup, makeWorkDir } from '../fixtures/cache-dir.js';
import { ensureOciLayers } from '../fixtures/oci-layers.js';

const REPO = 'bench/app';
const TAG = 'v1';

interface Context {
  registry: TestRegistry;
  work: string;
  reference: string;
  /** Size of banger's ext4 (from its warm-up run): the baseline's mkfs uses the same. */
  rootfsBytes?: number;
  /** A blob cache / OCI layout kept across runs (warm rows). */
  warm: boolean;
  /** Milliseconds per phase and run, for the "where the time goes" line printed at teardown. */
  phases: Record<string, number[]>;
}

function setupFor(warm: boolean): () => Promise<Context> {
  return async () => {
    const layers = await loadLayers();
    const work = await makeWorkDir('oci');
    try {
      const registry = await startRegistry(join(work, 'registry'));
      await pushImage(registry.host, REPO, TAG, layers);
      const ctx: Context = { registry, work, reference: `${registry.host}/${REPO}:${TAG}`, warm, phases: {} };
      if (warm) {
        // Fill both caches once, untimed: the timed runs then find every blob local.
        await pullOciImage({ reference: ctx.reference, cacheDir: join(work, 'banger-cache'), workDir: join(work, 'banger-work'), outRootfs: join(work, 'fill.ext4'), provision: false });
        await run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ctx.reference}`, `oci:${join(work, 'layout')}:${TAG}`]);
      }
      return ctx;
    } catch (error) {
      await rm(work, { recursive: true, force: true });
      throw error;
    }
  };
}

async function loadLayers() {
  const layers = await ensureOciLayers();
  logSetup(`image: 3 gzip layers, ${layers.map((l) => `${(l.bytes.length / 2 ** 20).toFixed(1)} MiB`).join(' + ')}`);
  return layers;
}

async function teardown(ctx: Context): Promise<void> {
  await ctx.registry.stop();
  await rm(ctx.work, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const parts = Object.entries(ctx.phases).map(([name, xs]) => `${name} ${Math.round(median(xs))} ms`);
  if (parts.length > 0) logSetup(`ext4 image ${Math.round((ctx.rootfsBytes ?? 0) / 2 ** 20)} MiB; where the time goes (medians): ${parts.join(', ')}`);
}

/** Times one phase of a run into ctx.phases. */
async function phase<T>(ctx: Context, name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await fn();
  (ctx.phases[name] ??= []).push(performance.now() - start);
  return result;
}

async function bangerImport(ctx: Context): Promise<void> {
  const cacheDir = join(ctx.work, 'banger-cache');
  const out = join(ctx.work, 'banger.ext4');
  if (!ctx.warm) await rm(cacheDir, { recursive: true, force: true });
  await rm(out, { force: true });
  const start = performance.now();
  let mkfsAt = 0;
  const result = await pullOciImage({
    reference: ctx.reference,
    cacheDir,
    workDir: join(ctx.work, 'banger-work'),
    outRootfs: out,
    provision: false,
    progress: { line: (text) => void (text.startsWith('creating ext4') && (mkfsAt = performance.now())) },
  });
  const end = performance.now();
  (ctx.phases['banger fetch+unpack'] ??= []).push(mkfsAt - start);
  (ctx.phases['banger mkfs'] ??= []).push(end - mkfsAt);
  if (result.layers.length !== 3) throw new Error(`expected 3 layers, pulled ${result.layers.length}`);
  if (ctx.warm !== result.layers.every((l) => l.cached)) throw new Error(`expected a ${ctx.warm ? 'warm' : 'cold'} blob cache`);
  ctx.rootfsBytes ??= result.rootfsBytes;
}

async function toolsImport(ctx: Context): Promise<void> {
  const layout = join(ctx.work, 'layout');
  const bundle = join(ctx.work, 'umoci-bundle');
  const out = join(ctx.work, 'tools.ext4');
  if (!ctx.warm) await rm(layout, { recursive: true, force: true });
  await rm(bundle, { recursive: true, force: true });
  await rm(out, { force: true });
  if (!ctx.warm) await phase(ctx, 'skopeo', () => run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ctx.reference}`, `oci:${layout}:${TAG}`]));
  await phase(ctx, 'umoci', () => run('umoci', ['unpack', '--image', `${layout}:${TAG}`, bundle]));
  await phase(ctx, 'mkfs', async () => {
    await run('truncate', ['-s', String(ctx.rootfsBytes ?? 2 ** 30), out]);
    await run('mkfs.ext4', ['-q', '-F', '-t', 'ext4', '-d', join(bundle, 'rootfs'), '-m', '0', out]);
  });
  if ((await stat(out)).size === 0) throw new Error(`${out} is empty`);
}

const NAME = 'OCI import (3 layers, ~5 000 files, loopback registry)';

export default [
  defineBenchmark<Context>({
    name: `${NAME}, cold cache`,
    baseline: '`skopeo copy docker://… oci:dir:tag` + `umoci unpack` + `mkfs.ext4 -d` (same image size)',
    runs: 5,
    setup: setupFor(false),
    teardown,
    banger: bangerImport,
    runBaseline: toolsImport,
  }),
  defineBenchmark<Context>({
    name: `${NAME}, warm cache`,
    baseline: '`umoci unpack` of an OCI layout already on disk + `mkfs.ext4 -d` (skopeo has nothing to copy)',
    runs: 5,
    setup: setupFor(true),
    teardown,
    banger: bangerImport,
    runBaseline: toolsImport,
  }),
];
