import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { buildLayer, pushImage, startRegistry, type TestRegistry } from '../testing/index.js';
import { resolveImageEntry, resolveKernelEntry } from './resolve-bundle.js';

const prereq = prerequisites(['docker-registry']);

describe.skipIf(prereq.skip)(`resolving catalog oci:// entries on a real docker-registry${prereq.skip ? ` (skipped: missing ${prereq.missing.join(', ')})` : ''}`, () => {
  let dir: string;
  let registry: TestRegistry;
  beforeAll(async () => {
    prereq.assert();
    dir = await mkdtemp(join(tmpdir(), 'banger-oci-resolve-'));
    registry = await startRegistry(join(dir, 'registry'));
    await pushImage(registry.host, 'library/plain', 'latest', [await buildLayer([{ name: 'etc/', type: 'directory' }])]);
  });
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a container image where a banger bundle is expected, naming the reference', async () => {
    const oci = `oci://${registry.host}/library/plain:latest`;
    await expect(resolveImageEntry({ name: 'x', description: 'd', oci })).rejects.toMatchObject({
      code: 'OCI_NOT_A_BUNDLE',
      message: `${oci} is not a banger bundle: its artifact type is application/vnd.oci.image.config.v1+json, a banger image bundle is application/vnd.banger.image.bundle.v1`,
    });
  });

  it('names the reference when the tag does not exist', async () => {
    await expect(resolveKernelEntry({ name: 'k', description: 'd', oci: `oci://${registry.host}/banger/none:1` })).rejects.toMatchObject({ code: 'OCI_MANIFEST_NOT_FOUND' });
  });

  it('leaves an entry without an oci reference as it is', async () => {
    const entry = { name: 'k', description: 'd', bundle: { url: 'http://127.0.0.1:1/k.tar.zst', sha256: 'a'.repeat(64) } };
    expect((await resolveKernelEntry(entry)).entry).toBe(entry);
  });
});
