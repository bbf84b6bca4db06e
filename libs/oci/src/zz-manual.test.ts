import { mkdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { run } from '@banger/host';
import { sha256, pushBlob, pushManifest, startRegistry } from '../test/registry-fixture.js';
import { pullOciImage } from './pull.js';

it('manual: keeps a provisioned debian rootfs at /tmp/ocimanual/debian.ext4', async () => {
  const dir = '/tmp/ocimanual';
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const registry = await startRegistry(join(dir, 'registry'));
  try {
    const tarball = join(homedir(), '.cache/banger-test/oci/debian-bookworm-minbase.tar');
    const bytes = await readFile(tarball);
    const layerDigest = await pushBlob(registry.host, 'd', bytes);
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(bytes)] } }));
    const configDigest = await pushBlob(registry.host, 'd', config);
    await pushManifest(registry.host, 'd', 'b', {
      schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: layerDigest, size: bytes.length }],
    }, 'application/vnd.docker.distribution.manifest.v2+json');
    const r = await pullOciImage({ reference: `${registry.host}/d:b`, cacheDir: join(dir, 'cache'), workDir: join(dir, 'work'), outRootfs: join(dir, 'debian.ext4'), dockerConfigPath: '/nonexistent' });
    console.log(JSON.stringify({ ...r, config: undefined }, null, 1));
    await run('ls', ['-la', dir]);
  } finally {
    await registry.stop();
  }
}, 20 * 60_000);
