import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { pullImage } from '@banger/images';
import { startProxy, startRegistry, type FrontProxy, type TestRegistry } from '../testing/index.js';
import { publishImageBundle } from './publish-bundle.js';
import { resolveImageEntry } from './resolve-bundle.js';

const prereq = prerequisites(['docker-registry', 'mkfs.ext4', 'debugfs', 'zstd']);
const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(prereq.skip)(`an image bundle pulled from a real docker-registry${prereq.skip ? ` (skipped: missing ${prereq.missing.join(', ')})` : ''}`, () => {
  let dir: string;
  let registry: TestRegistry;
  let proxy: FrontProxy;
  let rootfs: Buffer;

  beforeAll(async () => {
    prereq.assert();
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-bundle-resume-'));
    registry = await startRegistry(join(dir, 'registry'));
    proxy = await startProxy(registry.host);
    // An image dir as the images lib lays it out: a 16 MiB ext4 with /root and 1 MiB of noise, and its manifest.json.
    const tree = join(dir, 'tree');
    for (const d of ['root', 'sbin', 'var']) mkdirSync(join(tree, d), { recursive: true });
    let block = Buffer.from('seed');
    const noise = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < noise.length; i += 32) (block = createHash('sha256').update(block).digest()).copy(noise, i);
    writeFileSync(join(tree, 'var/noise.bin'), noise);
    const imageDir = join(dir, 'image');
    mkdirSync(imageDir);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, join(imageDir, 'rootfs.ext4'), '16M'], { stdio: 'pipe' });
    rootfs = readFileSync(join(imageDir, 'rootfs.ext4'));
    writeFileSync(
      join(imageDir, 'manifest.json'),
      JSON.stringify({
        name: 'resumable',
        version: '1',
        sizeBytes: rootfs.length,
        files: { 'rootfs.ext4': { sha256: hex(rootfs), size: rootfs.length } },
        defaultKernel: 'debian-cloud',
        packages: [],
        builtAt: '2026-12-04T00:00:00Z',
      }),
    );
    // small upload limits: the rootfs layer goes up in PATCH chunks
    await publishImageBundle(imageDir, { reference: `oci://${registry.host}/banger/resumable:1`, workDir: join(dir, 'publish'), upload: { monolithicLimit: 64 * 1024, chunkSize: 256 * 1024 } });
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resumes an interrupted download with a Range request to the registry and installs the exact rootfs', async () => {
    const { entry, headers } = await resolveImageEntry({ name: 'resumable', description: 'd', oci: `oci://${proxy.host}/banger/resumable:1` });
    expect(headers).toBeUndefined(); // this registry wants no credentials
    const bundle = entry.bundle!;
    expect(bundle.url).toBe(`http://${proxy.host}/v2/banger/resumable/blobs/sha256:${bundle.sha256}`);
    // What an interrupted earlier pull leaves: the first half of the blob as the .partial file.
    const blob = Buffer.from(await (await fetch(`http://${registry.host}/v2/banger/resumable/blobs/sha256:${bundle.sha256}`)).arrayBuffer());
    const cacheDir = join(dir, 'cache');
    const half = blob.length >> 1;
    mkdirSync(join(cacheDir, 'bundles', 'downloads'), { recursive: true });
    writeFileSync(join(cacheDir, 'bundles', 'downloads', `${bundle.sha256}.zst.partial`), blob.subarray(0, half));

    const manifest = await pullImage({ entry, destDir: join(dir, 'pulled'), cacheDir });
    expect(proxy.log.filter((r) => r.path.endsWith(`/blobs/sha256:${bundle.sha256}`)).map((r) => r.range)).toEqual([`bytes=${half}-`]);
    expect(manifest).toMatchObject({ name: 'resumable', version: '1', sizeBytes: rootfs.length });
    expect(hex(readFileSync(join(dir, 'pulled', 'rootfs.ext4')))).toBe(hex(rootfs));
  }, 120_000);

  it('pulls from a registry that wants a Bearer token for every request, blobs included', async () => {
    const guarded = await startProxy(registry.host, { auth: { tokenField: 'token' } });
    try {
      const { entry, headers } = await resolveImageEntry({ name: 'resumable', description: 'd', oci: `oci://${guarded.host}/banger/resumable:1` });
      expect(headers?.['authorization']).toMatch(/^Bearer tok-/);
      const manifest = await pullImage({ entry, ...(headers ? { headers } : {}), destDir: join(dir, 'pulled-with-token'), cacheDir: join(dir, 'cache-token') });
      expect(manifest.sizeBytes).toBe(rootfs.length);
      const blobGets = guarded.log.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
      expect(blobGets.length).toBeGreaterThanOrEqual(2); // the rootfs layer and the manifest.json layer
      expect(blobGets.every((r) => r.authorization === headers?.['authorization'])).toBe(true);
    } finally {
      await guarded.stop();
    }
  }, 120_000);
});
