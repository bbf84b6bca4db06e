import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prerequisites } from '@banger/host/testing';
import { ensureTestKernel, type TestKernel } from '@banger/kernels/testing';
import { startRegistry, type TestRegistry } from '@banger/oci/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';

const prereq = prerequisites(['docker-registry', 'mkfs.ext4', 'debugfs', 'zstd', 'tar']);
const json = <T>(text: string): T => JSON.parse(text) as T;
const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A 32 MiB ext4 shaped like a rootfs (init, sshd, /root) with 2 MiB of noise, so the bundle has a real size. */
function makeRootfs(out: string): void {
  const tree = mkdtempSync(join(tmpdir(), 'banger-bundle-tree-'));
  try {
    for (const dir of ['usr/sbin', 'etc', 'root', 'var/data']) mkdirSync(join(tree, dir), { recursive: true });
    symlinkSync('usr/sbin', join(tree, 'sbin'));
    writeFileSync(join(tree, 'usr/sbin/init'), '#!/bin/sh\n');
    writeFileSync(join(tree, 'usr/sbin/sshd'), '#!/bin/sh\n');
    chmodSync(join(tree, 'usr/sbin/init'), 0o755);
    chmodSync(join(tree, 'usr/sbin/sshd'), 0o755);
    writeFileSync(join(tree, 'root/.bashrc'), 'PS1="bundle# "\n');
    let block = Buffer.from('seed');
    const noise = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < noise.length; i += 32) (block = createHash('sha256').update(block).digest()).copy(noise, i);
    writeFileSync(join(tree, 'var/data/noise.bin'), noise);
    execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, out, '32M'], { stdio: 'pipe' });
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/** Flips one byte in the middle of a blob inside the registry's own storage (same size: only a digest check notices). */
function tamperBlob(registry: TestRegistry, digest: string): void {
  const hex = digest.slice('sha256:'.length);
  const file = join(registry.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  const bytes = readFileSync(file);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([bytes[bytes.length >> 1]! ^ 0xff]), 0, 1, bytes.length >> 1);
  closeSync(fd);
}

describe.skipIf(prereq.skip)(`bundles published to and pulled from a real registry on 127.0.0.1${prereq.skip ? ` (skipped: missing ${prereq.missing.join(', ')})` : ''}`, () => {
  let h: Harness;
  let work: string;
  let registry: TestRegistry;
  let kernel: TestKernel;
  let rootfs: string;
  const published: { image?: { reference: string; digest: string }; kernel?: { reference: string; digest: string } } = {};
  const state = (...parts: string[]) => join(h.home, 'state', ...parts);

  /** A fresh BANGER_HOME whose catalog_url / kernel_catalog_url name the published bundles. */
  async function freshHomeWithCatalogs(): Promise<void> {
    await h.banger(['daemon', 'stop']);
    h.freshHome();
    const catalogs = join(work, 'catalogs');
    mkdirSync(catalogs, { recursive: true });
    writeFileSync(join(catalogs, 'index.json'), JSON.stringify({ version: 1, images: [{ name: 'tiny', description: 'tiny image from a registry', oci: published.image!.reference }] }));
    writeFileSync(
      join(catalogs, 'kernels.json'),
      JSON.stringify({ formatVersion: 1, entries: [{ name: 'debian-cloud', description: 'cloud kernel from a registry', oci: `${published.kernel!.reference}@${published.kernel!.digest}` }] }),
    );
    mkdirSync(join(h.home, 'config'), { recursive: true });
    writeFileSync(join(h.home, 'config', 'config.toml'), `catalog_url = "file://${join(catalogs, 'index.json')}"\nkernel_catalog_url = "file://${join(catalogs, 'kernels.json')}"\n`);
  }

  beforeAll(async () => {
    prereq.assert();
    kernel = await ensureTestKernel();
    h = await createHarness();
    work = mkdtempSync(join(tmpdir(), 'banger-bundle-registry-'));
    registry = await startRegistry(join(work, 'registry'));
    rootfs = join(work, 'tiny.ext4');
    makeRootfs(rootfs);
  }, 600_000);

  afterAll(async () => {
    if (h) await h.banger(['daemon', 'stop']);
    await registry?.stop();
    await h?.dispose();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('publishes a registered image and an imported kernel as banger bundle artifacts', async () => {
    expect((await h.banger(['image', 'register', '--name', 'tiny', '--rootfs', rootfs])).exitCode).toBe(0);
    const image = await h.banger(['image', 'publish', 'tiny', `oci://${registry.host}/banger/tiny:v1`]);
    expect(image.exitCode, image.stderr).toBe(0);
    const imageLine = image.stdout.match(/^published image tiny as (oci:\/\/\S+)@(sha256:[0-9a-f]{64})$/m);
    expect(imageLine?.[1]).toBe(`oci://${registry.host}/banger/tiny:v1`);
    published.image = { reference: imageLine![1]!, digest: imageLine![2]! };

    expect((await h.banger(['kernel', 'import', kernel.dir])).exitCode).toBe(0);
    const k = await h.banger(['kernel', 'publish', 'debian-cloud', `oci://${registry.host}/banger/kernel`]);
    expect(k.exitCode, k.stderr).toBe(0);
    // no tag given: the kernel's version is the tag
    const kernelLine = k.stdout.match(/^published kernel debian-cloud as (oci:\/\/\S+)@(sha256:[0-9a-f]{64})$/m);
    expect(kernelLine?.[1]).toBe(`oci://${registry.host}/banger/kernel:${kernel.manifest.version}`);
    published.kernel = { reference: kernelLine![1]!, digest: kernelLine![2]! };

    // What the registry holds, read with plain HTTP: an artifact that says what it is.
    const manifest = await fetch(`http://${registry.host}/v2/banger/tiny/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const body = Buffer.from(await manifest.arrayBuffer());
    expect(`sha256:${createHash('sha256').update(body).digest('hex')}`).toBe(published.image.digest);
    expect(JSON.parse(body.toString())).toMatchObject({
      artifactType: 'application/vnd.banger.image.bundle.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json' },
      annotations: { 'dev.banger.bundle.format': '1', 'dev.banger.bundle.kind': 'image', 'dev.banger.bundle.name': 'tiny', 'dev.banger.bundle.arch': 'x86_64' },
      layers: [
        { mediaType: 'application/vnd.banger.image.rootfs.ext4+zstd', annotations: { 'dev.banger.bundle.uncompressed-size': String(32 * 1024 * 1024) } },
        { mediaType: 'application/vnd.banger.image.manifest.v1+json', annotations: { 'org.opencontainers.image.title': 'manifest.json' } },
      ],
    });

    // Publishing again changes nothing: the step sees the same build in the registry.
    const again = await h.banger(['image', 'publish', 'tiny', `oci://${registry.host}/banger/tiny:v1`, '--explain']);
    expect(again.stdout).toMatch(/^\s+skip\s+image\.publish\s/m);
  }, 300_000);

  it('pulls both into a fresh BANGER_HOME whose catalogs name them, byte for byte, and the plan says pull', async () => {
    await freshHomeWithCatalogs();
    const plan = await h.banger(['image', 'pull', 'tiny', '--explain']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`Pull image tiny from ${published.image!.reference}`);
    const kplan = await h.banger(['kernel', 'pull', 'debian-cloud', '--explain']);
    expect(kplan.stdout).toContain(`Pull kernel debian-cloud from ${published.kernel!.reference}@${published.kernel!.digest}`);

    const image = await h.banger(['image', 'pull', 'tiny']);
    expect(image.exitCode, image.stderr).toBe(0);
    const shown = json<{ sha256: string; rootfsPath: string }>((await h.banger(['image', 'show', 'tiny', '--json'])).stdout);
    expect(shown.sha256).toBe(sha256File(rootfs));
    expect(sha256File(state('images', 'tiny', 'rootfs.ext4'))).toBe(sha256File(rootfs));

    const k = await h.banger(['kernel', 'pull', 'debian-cloud']);
    expect(k.exitCode, k.stderr).toBe(0);
    expect(json<{ version: string }>((await h.banger(['kernel', 'show', 'debian-cloud', '--json'])).stdout).version).toBe(kernel.manifest.version);
    expect(sha256File(state('kernels', 'debian-cloud', 'vmlinux'))).toBe(sha256File(kernel.paths.vmlinux));
  }, 300_000);

  it('refuses a blob tampered with inside the registry, and leaves no image, kernel or partial download behind', async () => {
    const layers = async (repo: string, reference: string) =>
      (
        (await (await fetch(`http://${registry.host}/v2/${repo}/manifests/${reference}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as {
          layers: { digest: string }[];
        }
      ).layers;
    tamperBlob(registry, (await layers('banger/tiny', 'v1'))[0]!.digest);
    tamperBlob(registry, (await layers('banger/kernel', published.kernel!.digest))[0]!.digest);
    await freshHomeWithCatalogs();

    const image = await h.banger(['image', 'pull', 'tiny']);
    expect(image.exitCode).not.toBe(0);
    expect(image.stderr).toMatch(/^banger: image\.fetch failed: bundle http:\/\/127\.0\.0\.1:\d+\/v2\/banger\/tiny\/blobs\/sha256:[0-9a-f]{64}: sha256 is [0-9a-f]{64} .*the catalog says [0-9a-f]{64}.*discarded/m);
    expect(existsSync(state('images', 'tiny'))).toBe(false);
    expect(json<unknown[]>((await h.banger(['image', 'list', '--json'])).stdout)).toEqual([]);

    const k = await h.banger(['kernel', 'pull', 'debian-cloud']);
    expect(k.exitCode).not.toBe(0);
    expect(k.stderr).toMatch(/^banger: kernel\.fetch failed: kernel bundle http:\/\/127\.0\.0\.1:\d+\/v2\/banger\/kernel\/blobs\/sha256:[0-9a-f]{64} has sha256 [0-9a-f]{64}, the catalog says [0-9a-f]{64}/m);
    expect(existsSync(state('kernels', 'debian-cloud'))).toBe(false);
    expect(json<unknown[]>((await h.banger(['kernel', 'list', '--json'])).stdout)).toEqual([]);

    // nothing half-written in the download cache either
    const leftovers = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.partial$|\.zst$/.test(f)) : []);
    expect(leftovers(join(h.home, 'cache'))).toEqual([]);
  }, 300_000);
});
