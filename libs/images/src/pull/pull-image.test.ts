import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { findExecutable, sha256File } from '@banger/host';
import { makeTinyRootfs } from '../__fixtures__/tiny-rootfs.js';
import { StaticServer } from '../__fixtures__/static-server.js';
import type { CatalogEntry } from '../catalog/catalog-schema.js';
import { findImageEntry, imageCatalog } from '../catalog/image-catalog.js';
import { readManifest, ROOT_SKEL_FILE, ROOTFS_FILE } from '../manifest.js';
import { publishImage } from '../publish/publish-image.js';
import { registerRootfs } from '../register-rootfs.js';
import { pullImage } from './pull-image.js';

const tools = ['mkfs.ext4', 'debugfs', 'zstd'].every((t) => findExecutable(t));

describe.skipIf(!tools)('publish, then pull from a catalog served on 127.0.0.1', () => {
  let work: string;
  let publishDir: string;
  let sourceSha: string;
  let servers: StaticServer[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'banger-pull-test-'));
    publishDir = join(work, 'publish');
    const rootfs = makeTinyRootfs(join(work, 'tiny.ext4'), { randomKiB: 3 * 1024 });
    const { manifest } = await registerRootfs({ name: 'tiny', rootfsPath: rootfs, destDir: join(work, 'source-image') });
    sourceSha = manifest.files[ROOTFS_FILE]!.sha256;
    await publishImage(join(work, 'source-image'), publishDir, { description: 'a tiny test image' });
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));
  afterEach(async () => {
    for (const server of servers) await server.stop();
    servers = [];
  });

  const serve = async (options = {}, root = publishDir): Promise<StaticServer> => {
    const server = await new StaticServer(root, options).start();
    servers.push(server);
    return server;
  };
  const entryFrom = async (server: StaticServer): Promise<CatalogEntry> => findImageEntry(await imageCatalog({ catalogUrl: `${server.url}/index.json` }), 'tiny');
  const fresh = (name: string) => ({ destDir: join(work, name, 'images', 'tiny'), cacheDir: join(work, name, 'cache') });

  it('publishes a zstd bundle, its manifest and an index.json with relative URLs', () => {
    const index = JSON.parse(readFileSync(join(publishDir, 'index.json'), 'utf8'));
    const entry = index.images.find((e: CatalogEntry) => e.name === 'tiny');
    expect(entry).toMatchObject({ name: 'tiny', description: 'a tiny test image', bundle: { uncompressedSize: 64 * 2 ** 20 } });
    expect(entry.bundle.url).toMatch(/^tiny-[0-9a-f]{12}\.rootfs\.ext4\.zst$/);
    expect(existsSync(join(publishDir, entry.bundle.url))).toBe(true);
    expect(existsSync(join(publishDir, entry.bundle.manifestUrl))).toBe(true);
    expect(statSync(join(publishDir, entry.bundle.url)).size).toBe(entry.bundle.size);
  });

  it('pulls a bundle over HTTP into a sparse rootfs identical to the published one', async () => {
    const server = await serve();
    const entry = await entryFrom(server);
    expect(entry.bundle?.url).toBe(`${server.url}/${entry.name}-${entry.version}.rootfs.ext4.zst`);
    const { destDir, cacheDir } = fresh('plain');
    const seen: number[] = [];
    const manifest = await pullImage({ entry, destDir, cacheDir, progress: { bytes: (done, total) => seen.push(done, total ?? -1) } });
    const rootfs = join(destDir, ROOTFS_FILE);
    expect(await sha256File(rootfs)).toBe(sourceSha);
    expect(manifest).toEqual(await readManifest(destDir));
    expect(manifest).toMatchObject({ name: 'tiny', sizeBytes: 64 * 2 ** 20, defaultKernel: 'debian-cloud' });
    const info = statSync(rootfs);
    expect(info.size).toBe(64 * 2 ** 20);
    expect(info.blocks * 512).toBeLessThan(info.size / 4); // 3 MiB of data in a 64 MiB image: most of it is holes
    expect(seen.at(-2)).toBe(entry.bundle!.size);
    expect(seen.at(-1)).toBe(entry.bundle!.size);
    expect(statSync(join(destDir, ROOT_SKEL_FILE)).size).toBeGreaterThan(0);
    expect(readdirSync(join(cacheDir, 'bundles', 'downloads'))).toEqual([]);
  });

  it('rejects a bundle with one corrupted byte and registers nothing', async () => {
    const corruptDir = join(work, 'corrupt-publish');
    rmSync(corruptDir, { recursive: true, force: true });
    await import('node:fs').then((fs) => fs.cpSync(publishDir, corruptDir, { recursive: true }));
    const entryOnDisk = JSON.parse(readFileSync(join(corruptDir, 'index.json'), 'utf8')).images[0] as CatalogEntry;
    const bundle = join(corruptDir, entryOnDisk.bundle!.url);
    const bytes = readFileSync(bundle);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(bundle, bytes);

    const server = await serve({}, corruptDir);
    const { destDir, cacheDir } = fresh('corrupt');
    const error = await pullImage({ entry: await entryFrom(server), destDir, cacheDir }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BUNDLE_CHECKSUM_MISMATCH' });
    expect((error as Error).message).toMatch(/^bundle http:\/\/127\.0\.0\.1:\d+\/tiny-.*\.zst: sha256 is [0-9a-f]{64} .* the catalog says [0-9a-f]{64} .*discarded$/);
    expect(existsSync(destDir)).toBe(false);
    expect(readdirSync(join(work, 'corrupt', 'images'))).toEqual([]);
    expect(readdirSync(join(cacheDir, 'bundles', 'downloads'))).toEqual([]);
  });

  it('resumes with a Range request after the server cuts the connection mid-download', async () => {
    const server = await serve({ cutFirstBundleAfter: 700 * 1024 });
    const entry = await entryFrom(server);
    const { destDir, cacheDir } = fresh('resume');
    const lines: string[] = [];
    await pullImage({ entry, destDir, cacheDir, progress: { line: (l) => lines.push(l) } });
    const bundleRequests = server.requests.filter((r) => r.path.endsWith('.zst'));
    expect(bundleRequests).toEqual([{ path: expect.any(String) }, { path: expect.any(String), range: expect.stringMatching(/^bytes=\d+-$/) }]);
    // The server dropped the socket after 700 KiB; what reached the client before that is where it resumes.
    const resumedAt = Number(/bytes=(\d+)-/.exec(bundleRequests[1]!.range!)![1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(700 * 1024);
    expect(lines.join('\n')).toContain(`download interrupted at ${resumedAt} of ${entry.bundle!.size} bytes`);
    expect(await sha256File(join(destDir, ROOTFS_FILE))).toBe(sourceSha);
  });

  it('leaves no image dir when the pulling process is killed with SIGKILL, and the next pull resumes and succeeds', async () => {
    const server = await serve({ bundleBytesPerSecond: 512 * 1024 });
    const entry = await entryFrom(server);
    const { destDir, cacheDir } = fresh('killed');
    const child = join(work, 'pull-child.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('../__fixtures__/pull-child.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: child,
      conditions: ['@banger/source'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      logLevel: 'silent',
    });
    const proc = spawn(process.execPath, [child, JSON.stringify(entry), destDir, cacheDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        const bytes = [...d.toString().matchAll(/bytes (\d+)/g)].map((m) => Number(m[1]));
        if (bytes.some((b) => b >= 256 * 1024)) resolve();
      });
      proc.on('exit', (code) => reject(new Error(`the child exited (${code}) before it was killed: ${stderr}`)));
    });
    proc.kill('SIGKILL');
    await new Promise((resolve) => proc.once('exit', resolve));

    expect(existsSync(destDir)).toBe(false);
    const partials = readdirSync(join(cacheDir, 'bundles', 'downloads'));
    expect(partials).toEqual([`${entry.bundle!.sha256}.zst.partial`]);
    const kept = statSync(join(cacheDir, 'bundles', 'downloads', partials[0]!)).size;
    expect(kept).toBeGreaterThan(0);

    server.requests.length = 0;
    await pullImage({ entry, destDir, cacheDir });
    expect(server.requests.filter((r) => r.path.endsWith('.zst'))).toEqual([{ path: expect.any(String), range: `bytes=${kept}-` }]);
    expect(await sha256File(join(destDir, ROOTFS_FILE))).toBe(sourceSha);
    expect(readdirSync(join(work, 'killed', 'images'))).toEqual(['tiny']);
  }, 60_000);

  it('cleans up the temp dir a killed pull left behind', async () => {
    const server = await serve();
    const { destDir, cacheDir } = fresh('stale');
    const stale = `${destDir}.tmp-999999-deadbeef`;
    await import('node:fs/promises').then((fs) => fs.mkdir(join(stale, 'x'), { recursive: true }));
    await pullImage({ entry: await entryFrom(server), destDir, cacheDir });
    expect(readdirSync(join(work, 'stale', 'images'))).toEqual(['tiny']);
  });

  it('pulls from a catalog in a local directory', async () => {
    const entry = findImageEntry(await imageCatalog({ catalogUrl: publishDir }), 'tiny');
    expect(entry.bundle?.url).toMatch(/^file:\/\//);
    const { destDir, cacheDir } = fresh('local');
    await pullImage({ entry, destDir, cacheDir });
    expect(await sha256File(join(destDir, ROOTFS_FILE))).toBe(sourceSha);
  });

  it('refuses to pull over an existing image', async () => {
    const server = await serve();
    const { destDir, cacheDir } = fresh('plain');
    await expect(pullImage({ entry: await entryFrom(server), destDir, cacheDir })).rejects.toMatchObject({ code: 'IMAGE_EXISTS' });
  });

  it('says it falls back to the recipe when no bundle is reachable', async () => {
    const server = await serve();
    const entry = await entryFrom(server);
    await server.stop();
    servers = [];
    const lines: string[] = [];
    const { destDir, cacheDir } = fresh('fallback');
    // A recipe path that does not exist: the fallback is announced, then the recipe loader fails fast (no mmdebstrap here).
    const error = await pullImage({ entry: { ...entry, recipe: join(work, 'no-such-recipe.toml') }, destDir, cacheDir, progress: { line: (l) => lines.push(l) } }).catch(
      (e: unknown) => e,
    );
    expect(lines[0]).toMatch(/^no bundle reachable at http:\/\/127\.0\.0\.1:\d+\/tiny-.*\.zst \(ECONNREFUSED\); building from recipe .*no-such-recipe\.toml$/);
    expect(error).toMatchObject({ code: 'RECIPE_UNREADABLE' });
    expect(existsSync(destDir)).toBe(false);
  });
});
