import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedCatalog, findImageEntry, imageCatalog, indexLocation } from './image-catalog.js';

const sha = 'a'.repeat(64);
const remoteIndex = {
  version: 1,
  images: [
    { name: 'debian-bookworm', description: 'published golden', version: '20261130-abc', bundle: { url: 'debian-bookworm-1.rootfs.ext4.zst', sha256: sha, size: 10, uncompressedSize: 20 } },
    { name: 'extra', description: 'only remote', bundle: { url: 'https://cdn.example/extra.zst', sha256: sha, size: 1, uncompressedSize: 2 } },
  ],
};

describe('imageCatalog', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-catalog-'));
    writeFileSync(join(dir, 'index.json'), JSON.stringify(remoteIndex));
    writeFileSync(join(dir, 'broken.json'), JSON.stringify({ version: 1, images: [{ name: 'x', description: 'd', bundle: { url: 'u', sha256: 'nope', size: 1, uncompressedSize: 1 } }] }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('embeds debian-bookworm and debian-minimal, each with a recipe', async () => {
    const catalog = await imageCatalog();
    expect(catalog.entries.map((e) => [e.name, e.recipe])).toEqual([
      ['debian-bookworm', 'debian-bookworm'],
      ['debian-minimal', 'debian-minimal'],
    ]);
    expect(catalog.warnings).toEqual([]);
    expect(embeddedCatalog().images).toHaveLength(2);
  });

  it('lets a local index.json override entries by name and resolves bundle URLs against it', async () => {
    const catalog = await imageCatalog({ catalogUrl: dir });
    const golden = findImageEntry(catalog, 'debian-bookworm');
    expect(golden).toMatchObject({ description: 'published golden', recipe: 'debian-bookworm', version: '20261130-abc' });
    expect(golden.bundle?.url).toBe(pathToFileURL(join(dir, 'debian-bookworm-1.rootfs.ext4.zst')).href);
    expect(findImageEntry(catalog, 'extra').bundle?.url).toBe('https://cdn.example/extra.zst');
    expect(findImageEntry(catalog, 'debian-minimal').bundle).toBeUndefined();
    expect(catalog.source).toBe(pathToFileURL(join(dir, 'index.json')).href);
  });

  it('reads an index.json over HTTP', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/catalog/index.json') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(remoteIndex));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/catalog/`;
    try {
      const catalog = await imageCatalog({ catalogUrl: base });
      expect(findImageEntry(catalog, 'debian-bookworm').bundle?.url).toBe(`${base}debian-bookworm-1.rootfs.ext4.zst`);
    } finally {
      server.close();
    }
  });

  it('falls back to the embedded catalog with a warning when the configured one is unreachable', async () => {
    const catalog = await imageCatalog({ catalogUrl: 'http://127.0.0.1:9/index.json' });
    expect(catalog.entries.map((e) => e.name)).toEqual(['debian-bookworm', 'debian-minimal']);
    expect(catalog.warnings[0]).toMatch(/^catalog http:\/\/127\.0\.0\.1:9\/index\.json is unreachable \(.*\); using the embedded catalog$/);
  });

  it('rejects an invalid index.json naming the file and the key', async () => {
    await expect(imageCatalog({ catalogUrl: join(dir, 'broken.json') })).rejects.toThrow(
      `catalog ${pathToFileURL(join(dir, 'broken.json')).href}: images.0.bundle.sha256: must be 64 lowercase hex digits`,
    );
  });

  it('keeps an oci:// reference of a remote entry as written, and rejects one without the scheme naming the key', async () => {
    writeFileSync(join(dir, 'oci.json'), JSON.stringify({ version: 1, images: [{ name: 'debian-bookworm', description: 'from a registry', oci: 'oci://127.0.0.1:5000/banger/golden:1' }] }));
    const catalog = await imageCatalog({ catalogUrl: join(dir, 'oci.json') });
    expect(catalog.entries.find((e) => e.name === 'debian-bookworm')).toMatchObject({ oci: 'oci://127.0.0.1:5000/banger/golden:1', recipe: 'debian-bookworm' });
    writeFileSync(join(dir, 'bad-oci.json'), JSON.stringify({ version: 1, images: [{ name: 'x', description: 'd', oci: 'docker://127.0.0.1:5000/x' }] }));
    const location = pathToFileURL(join(dir, 'bad-oci.json')).href;
    await expect(imageCatalog({ catalogUrl: join(dir, 'bad-oci.json') })).rejects.toThrow(
      `catalog ${location}: images.0.oci: must be oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>]`,
    );
  });

  it('lists the known names when an image is not in the catalog', async () => {
    expect(() => findImageEntry({ entries: embeddedCatalog().images }, 'ubuntu')).toThrow(
      'image "ubuntu" is not in the catalog: known images are debian-bookworm, debian-minimal',
    );
  });

  it('treats a URL without .json as the directory holding index.json', () => {
    expect(indexLocation('https://x.example/banger')).toBe('https://x.example/banger/index.json');
    expect(indexLocation('https://x.example/banger/catalog.json')).toBe('https://x.example/banger/catalog.json');
  });
});
