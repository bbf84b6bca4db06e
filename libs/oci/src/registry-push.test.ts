import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { artifactManifest, EMPTY_CONFIG } from './bundle-artifact.js';
import { RegistryPushClient } from './registry-push.js';
import { startRegistry, type TestRegistry } from './testing/index.js';

const prereq = prerequisites(['docker-registry']);
const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(prereq.skip)(`RegistryPushClient against a real docker-registry on 127.0.0.1${prereq.skip ? ` (skipped: missing ${prereq.missing.join(', ')})` : ''}`, () => {
  let dir: string;
  let registry: TestRegistry;

  beforeAll(async () => {
    prereq.assert();
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-push-'));
    registry = await startRegistry(join(dir, 'registry'));
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The blob as the registry serves it, fetched with plain fetch (not the client under test). */
  const served = async (repo: string, digest: string) => Buffer.from(await (await fetch(`http://${registry.host}/v2/${repo}/blobs/${digest}`)).arrayBuffer());

  it('uploads a small blob in one PUT and a second push finds it with HEAD instead of uploading again', async () => {
    const client = new RegistryPushClient({ registry: registry.host });
    const bytes = randomBytes(1000);
    const first = await client.pushBlob('push/mono', { bytes });
    expect(first).toEqual({ digest: `sha256:${hex(bytes)}`, size: 1000, upload: 'monolithic' });
    expect((await served('push/mono', first.digest)).equals(bytes)).toBe(true);
    expect(await client.pushBlob('push/mono', { bytes })).toMatchObject({ upload: 'exists' });
    expect(await client.hasBlob('push/mono', `sha256:${'0'.repeat(64)}`)).toBe(false);
  });

  it('uploads a file larger than the monolithic limit in PATCH chunks, including a short last chunk', async () => {
    const client = new RegistryPushClient({ registry: registry.host, monolithicLimit: 64 * 1024, chunkSize: 64 * 1024 });
    const bytes = randomBytes(3 * 64 * 1024 + 777);
    const file = join(dir, 'chunked.bin');
    await writeFile(file, bytes);
    const pushed = await client.pushBlob('push/chunked', { path: file });
    expect(pushed).toEqual({ digest: `sha256:${hex(bytes)}`, size: bytes.length, upload: 'chunked' });
    expect((await served('push/chunked', pushed.digest)).equals(bytes)).toBe(true);
  });

  it('refuses a monolithic upload whose bytes do not hash to the digest sent, naming the repository', async () => {
    const client = new RegistryPushClient({ registry: registry.host });
    const claimed = `sha256:${hex(Buffer.from('what it should have been'))}`;
    await expect(client.pushBlob('push/corrupt', { bytes: Buffer.from('corrupted in transit') }, claimed)).rejects.toMatchObject({
      code: 'OCI_UPLOAD_REFUSED',
      message: expect.stringContaining(`${registry.host}/push/corrupt`),
    });
    expect(await client.hasBlob('push/corrupt', claimed)).toBe(false);
  });

  it('refuses a chunked upload whose bytes do not hash to the digest sent', async () => {
    const client = new RegistryPushClient({ registry: registry.host, monolithicLimit: 1024, chunkSize: 1024 });
    const claimed = `sha256:${hex(randomBytes(16))}`;
    await expect(client.pushBlob('push/corrupt', { bytes: randomBytes(4000) }, claimed)).rejects.toMatchObject({ code: 'OCI_UPLOAD_REFUSED' });
  });

  it('puts an artifact manifest with artifactType and annotations that reads back byte for byte by its digest', async () => {
    const client = new RegistryPushClient({ registry: registry.host });
    const layer = Buffer.from('payload');
    const pushed = await client.pushBlob('push/artifact', { bytes: layer });
    await client.pushBlob('push/artifact', { bytes: EMPTY_CONFIG.bytes });
    const manifest = artifactManifest('kernel', [{ mediaType: 'application/x-test', digest: pushed.digest, size: pushed.size, annotations: { 'org.opencontainers.image.title': 'payload' } }], {
      'dev.banger.bundle.name': 'k',
    });
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = await client.putManifest('push/artifact', 'v1', body, manifest.mediaType);
    expect(digest).toBe(`sha256:${hex(body)}`);
    const back = await client.getManifest('push/artifact', 'v1');
    expect(back.digest).toBe(digest);
    expect(back.body.equals(body)).toBe(true);
    expect(JSON.parse(back.body.toString())).toMatchObject({ artifactType: 'application/vnd.banger.kernel.bundle.v1', annotations: { 'dev.banger.bundle.kind': 'kernel', 'dev.banger.bundle.format': '1' } });
  });

  it('refuses a manifest naming a blob the registry does not have, with the reference in the message', async () => {
    const client = new RegistryPushClient({ registry: registry.host });
    await client.pushBlob('push/missing', { bytes: EMPTY_CONFIG.bytes });
    const manifest = artifactManifest('image', [{ mediaType: 'application/x-test', digest: `sha256:${'1'.repeat(64)}`, size: 5, annotations: {} }], {});
    await expect(client.putManifest('push/missing', 'v1', Buffer.from(JSON.stringify(manifest)), manifest.mediaType)).rejects.toMatchObject({
      code: 'OCI_MANIFEST_REFUSED',
      message: expect.stringContaining(`${registry.host}/push/missing:v1`),
    });
    // nothing tagged: the tag list of the repository does not have v1
    const tags = await fetch(`http://${registry.host}/v2/push/missing/tags/list`).then((r) => r.json() as Promise<{ tags?: string[] | null }>, () => ({ tags: null }));
    expect(tags.tags ?? []).not.toContain('v1');
    expect(await readdir(registry.dataDir)).toContain('docker');
  });
});
