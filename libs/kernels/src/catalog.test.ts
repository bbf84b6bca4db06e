import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '@banger/errors';
import { DEFAULT_KERNEL_NAME, embeddedKernelCatalog, findCatalogEntry, kernelCatalog, parseKernelCatalog } from './catalog.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** Serves `body` as the remote catalog index on 127.0.0.1. */
async function serveIndex(body: string, status = 200): Promise<string> {
  server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/kernels.json`;
}

describe('the kernel catalog', () => {
  it('has the default kernel, built from the Debian cloud kernel package', () => {
    expect(DEFAULT_KERNEL_NAME).toBe('debian-cloud');
    expect(findCatalogEntry(DEFAULT_KERNEL_NAME).recipe).toEqual({ debPackage: 'linux-image-cloud-amd64' });
  });

  it('names the known kernels when asked for an unknown one', () => {
    const names = embeddedKernelCatalog().map((e) => e.name).join(', ');
    expect(() => findCatalogEntry('nope')).toThrow(`unknown kernel nope: the catalog has ${names}`);
    expect(() => findCatalogEntry('nope')).toThrow(NotFoundError);
  });

  it('returns copies, so callers cannot change the embedded catalog', () => {
    findCatalogEntry('debian-cloud').description = 'changed';
    expect(findCatalogEntry('debian-cloud').description).not.toBe('changed');
  });

  it('overlays a remote index on the embedded entries by name', async () => {
    const sha256 = 'a'.repeat(64);
    const url = await serveIndex(
      JSON.stringify({
        formatVersion: 1,
        entries: [
          { name: 'debian-cloud', description: 'published', bundle: { url: 'https://example.invalid/k.tar.zst', sha256 }, recipe: { debPackage: 'linux-image-cloud-amd64' } },
          { name: 'custom', description: 'extra', bundle: { url: 'https://example.invalid/c.tar.zst', sha256 } },
        ],
      }),
    );
    const entries = await kernelCatalog(url);
    expect(findCatalogEntry('debian-cloud', entries).bundle?.sha256).toBe(sha256);
    expect(findCatalogEntry('custom', entries).description).toBe('extra');
    expect(findCatalogEntry('debian-generic', entries).recipe?.debPackage).toBe('linux-image-amd64');
  });

  it('rejects a remote index entry with neither a bundle, an oci reference nor a recipe, naming the entry', async () => {
    const url = await serveIndex(JSON.stringify({ formatVersion: 1, entries: [{ name: 'empty', description: 'x' }] }));
    await expect(kernelCatalog(url)).rejects.toThrow(`invalid kernel catalog ${url}: entries.0: needs a recipe, a bundle or an oci reference`);
  });

  it('accepts an entry that names only an oci:// reference, and rejects one that is not oci://', async () => {
    const ok = await serveIndex(JSON.stringify({ formatVersion: 1, entries: [{ name: 'reg', description: 'x', oci: 'oci://127.0.0.1:5000/banger/kernel:6.1' }] }));
    expect((await kernelCatalog(ok)).find((e) => e.name === 'reg')?.oci).toBe('oci://127.0.0.1:5000/banger/kernel:6.1');
    const bad = await serveIndex(JSON.stringify({ formatVersion: 1, entries: [{ name: 'reg', description: 'x', oci: '127.0.0.1:5000/banger/kernel' }] }));
    await expect(kernelCatalog(bad)).rejects.toThrow(`invalid kernel catalog ${bad}: entries.0.oci: must be oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>]`);
  });

  it('says which remote index failed and why', async () => {
    const url = await serveIndex('gone', 404);
    await expect(kernelCatalog(url)).rejects.toThrow(`cannot read kernel catalog ${url}: HTTP 404`);
  });

  it('rejects a bundle sha256 that is not 64 hex digits', () => {
    expect(() =>
      parseKernelCatalog({ formatVersion: 1, entries: [{ name: 'k', description: 'd', bundle: { url: 'https://x.invalid/k', sha256: 'abc' } }] }, 'test.json'),
    ).toThrow(/^invalid kernel catalog test\.json: entries\.0\.bundle\.sha256: /);
  });
});

describe('a file:// kernel catalog', () => {
  it('is read from disk like a remote index', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { pathToFileURL } = await import('node:url');
    const dir = await mkdtemp(join(tmpdir(), 'banger-catalog-'));
    const file = join(dir, 'kernels.json');
    await writeFile(file, JSON.stringify({ formatVersion: 1, entries: [{ name: 'local', description: 'l', recipe: { debPackage: 'linux-image-amd64' } }] }));
    expect(findCatalogEntry('local', await kernelCatalog(pathToFileURL(file).href)).recipe?.debPackage).toBe('linux-image-amd64');
    await rm(dir, { recursive: true });
  });
});
