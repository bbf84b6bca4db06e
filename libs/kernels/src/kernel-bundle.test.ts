import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '@banger/errors';
import { findExecutable, run } from '@banger/host';
import { buildKernelBundle } from './build-bundle.js';
import { kernelBundlePaths, readKernelBundle, type KernelManifest } from './bundle-manifest.js';
import { findCatalogEntry } from './catalog.js';
import { importKernelBundle } from './import-bundle.js';
import { packKernelBundle } from './pack-bundle.js';
import { pullKernelBundle } from './pull-bundle.js';
import { realKernelSkipReason, testCacheDir } from './__fixtures__/real-kernel.js';
import { bootMicrovm, GUEST_MARKER, makeTestRootDisk, makeWorkDisk, qemuSkipReason } from './__fixtures__/boot-qemu.js';
import { serveFile } from './__fixtures__/http-file-server.js';
import { spawnBuild } from './__fixtures__/killable-build.js';

const skip = realKernelSkipReason() ?? qemuSkipReason() ?? (findExecutable('tar') ? undefined : 'tar is not installed');
const cacheDir = join(testCacheDir, 'kernels');

/** tmp dirs next to `dir` that a build may have left. */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dirname(dir)).catch(() => [] as string[])).filter((name) => name.startsWith(`${basename(dir)}.tmp-`));
}

describe.skipIf(skip)(`the debian-cloud kernel bundle${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let work: string;
  let bundleDir: string;
  let manifest: KernelManifest;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-kernels-'));
    bundleDir = join(work, 'kernels', 'debian-cloud');
    const pulled = await pullKernelBundle({ entry: findCatalogEntry('debian-cloud'), destDir: bundleDir, cacheDir });
    expect(pulled.outcome).toBe('built');
    manifest = pulled.manifest;
  }, 600_000);
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('records the kernel release, source package, boot modules and the sha256 of every file', async () => {
    expect(manifest.name).toBe('debian-cloud');
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
    expect(manifest.source.package).toBe(`linux-image-${manifest.version}`);
    expect(manifest.compression).toBe('lz4');
    expect(manifest.bootModules).toEqual(expect.arrayContaining(['virtio_mmio', 'virtio_blk', 'virtio_net', 'vmw_vsock_virtio_transport']));
    expect(await readKernelBundle(bundleDir, { verify: true })).toEqual(manifest);
    expect(await readFile(kernelBundlePaths(bundleDir).config, 'utf8')).toContain('CONFIG_VIRTIO_MMIO=m');
  });

  it('ships modules.ext4 labelled banger-modules, root-owned, with the kernel release at its top level', async () => {
    const { modules } = kernelBundlePaths(bundleDir);
    const { stdout: header } = await run('dumpe2fs', ['-h', modules]);
    expect(header).toMatch(/Filesystem volume name:\s+banger-modules/);
    const { stdout: listing } = await run('debugfs', ['-R', 'ls -l /', modules]);
    const names = listing.trim().split('\n').map((line) => line.trim().split(/\s+/).at(-1));
    expect(names).toContain(manifest.version);
    expect(names).not.toContain('lost+found');
    const { stdout: depStat } = await run('debugfs', ['-R', `stat /${manifest.version}/modules.dep`, modules]);
    expect(depStat).toMatch(/User:\s+0\s+Group:\s+0/);
  });

  it('boots under QEMU microvm (TCG) through the initrd to the root disk init, with the modules disk on /lib/modules', async () => {
    const vmDir = join(work, 'vm');
    await mkdir(vmDir);
    const paths = kernelBundlePaths(bundleDir);
    const boot = await bootMicrovm({
      vmlinux: paths.vmlinux,
      initrd: paths.initrd,
      disks: [{ file: await makeTestRootDisk(vmDir) }, { file: await makeWorkDisk(vmDir) }, { file: paths.modules, readonly: true }],
      append: 'console=ttyS0 reboot=k panic=1 root=/dev/vda rw banger.modules=/dev/vdc',
      workDir: vmDir,
    });
    expect(boot.timedOut, boot.console).toBe(false);
    expect(boot.console).toContain(`banger-initrd: switching to /sbin/init`);
    expect(boot.console).toContain(GUEST_MARKER);
    expect(boot.console).toMatch(new RegExp(`guest-kernel=${manifest.version.replace(/\./g, '\\.')}\\r?\\n`));
    expect(boot.console).toMatch(new RegExp(`guest-modules=${manifest.version.replace(/\./g, '\\.')} ?\\r?\\n`));
    expect(boot.console).toContain('guest-modules-dep=yes');
    expect(boot.console).toContain('guest-modprobe-overlay=yes');
    expect(boot.console).toContain('guest-mount=/dev/vda,/,rw');
    expect(boot.console).toContain('guest-mount=/dev/vdc,/lib/modules,ro');
    expect(boot.exitCode).toBe(0);
  }, 180_000);

  it('stops with a console message naming the root device when it never appears', async () => {
    const vmDir = join(work, 'vm-noroot');
    await mkdir(vmDir);
    const paths = kernelBundlePaths(bundleDir);
    const boot = await bootMicrovm({
      vmlinux: paths.vmlinux,
      initrd: paths.initrd,
      disks: [],
      append: 'console=ttyS0 reboot=k panic=1 root=/dev/vdz rw banger.roottimeout=2',
      workDir: vmDir,
    });
    expect(boot.timedOut, boot.console).toBe(false);
    expect(boot.console).toMatch(/banger-initrd: \[[\d.]+\] FATAL: root device \/dev\/vdz did not appear within 2 s/);
  }, 180_000);

  it('does nothing on a second pull or a second build of the same package', async () => {
    const started = Date.now();
    const pulled = await pullKernelBundle({ entry: findCatalogEntry('debian-cloud'), destDir: bundleDir, cacheDir });
    expect(pulled.outcome).toBe('cached');
    expect(pulled.manifest.builtAt).toBe(manifest.builtAt);
    const rebuilt = await buildKernelBundle({ debPackage: 'linux-image-cloud-amd64', name: 'debian-cloud', outDir: bundleDir, cacheDir });
    expect(rebuilt.builtAt).toBe(manifest.builtAt);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('imports a bundle and rejects a copy whose file was tampered with, naming the file', async () => {
    const copy = join(work, 'copy', 'debian-cloud');
    expect(await importKernelBundle(bundleDir, copy)).toEqual(manifest);
    const initrd = kernelBundlePaths(copy).initrd;
    const handle = await open(initrd, 'r+');
    await handle.write(Buffer.from([0x42]), 0, 1, 1000);
    await handle.close();
    await expect(readKernelBundle(copy, { verify: true })).rejects.toThrow(
      new RegExp(`^kernel bundle ${copy} is damaged: initrd\\.img has sha256 [0-9a-f]{64}, the manifest says ${manifest.files.initrd.sha256}$`),
    );
    const again = join(work, 'again', 'debian-cloud');
    await expect(importKernelBundle(copy, again)).rejects.toThrow(/initrd\.img has sha256/);
    expect(existsSync(again)).toBe(false);
    await rm(dirname(copy), { recursive: true });
  });

  it('imports a bundle under another name without touching its files', async () => {
    const renamed = join(work, 'renamed', 'my-kernel');
    const imported = await importKernelBundle(bundleDir, renamed, { name: 'my-kernel' });
    expect(imported).toEqual({ ...manifest, name: 'my-kernel' });
    expect(await readKernelBundle(renamed, { verify: true })).toEqual(imported);
    await expect(importKernelBundle(bundleDir, renamed)).rejects.toThrow(`cannot import kernel debian-cloud: ${renamed} already exists`);
    await rm(dirname(renamed), { recursive: true });
  });

  it('leaves no bundle and no temp dir when a build is cancelled midway', async () => {
    const outDir = join(work, 'cancelled', 'debian-cloud');
    const controller = new AbortController();
    const build = buildKernelBundle({
      debPackage: 'linux-image-cloud-amd64',
      name: 'debian-cloud',
      outDir,
      cacheDir,
      signal: controller.signal,
      progress: { line: (text) => text === 'building initrd' && controller.abort() },
    });
    await expect(build).rejects.toBeInstanceOf(CancelledError);
    expect(existsSync(outDir)).toBe(false);
    expect(await leftovers(outDir)).toEqual([]);
  }, 300_000);

  it('leaves no bundle when the building process is killed, and the next build cleans its temp dir', async () => {
    const outDir = join(work, 'killed', 'debian-cloud');
    const child = await spawnBuild(work, { debPackage: 'linux-image-cloud-amd64', name: 'debian-cloud', outDir, cacheDir });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('building initrd')) child.kill('SIGKILL');
    });
    expect(await exited, output).toBe('SIGKILL');
    expect(existsSync(outDir)).toBe(false);
    expect(await leftovers(outDir)).toHaveLength(1); // what a kill -9 leaves behind
    const manifestAfter = await buildKernelBundle({ debPackage: 'linux-image-cloud-amd64', name: 'debian-cloud', outDir, cacheDir });
    expect(manifestAfter.version).toBe(manifest.version);
    expect(await leftovers(outDir)).toEqual([]);
    await rm(dirname(outDir), { recursive: true });
  }, 300_000);

  it('removes the temp dir of a killed build on the next call', async () => {
    // A pid that surely no longer runs: a process that has exited.
    const { stdout } = await run('sh', ['-c', 'echo $$']);
    const stale = `${bundleDir}.tmp-${stdout.trim()}-deadbeef`; // the `<dir>.tmp-<pid>-<8 hex>` of tempSibling
    await mkdir(stale);
    await writeFile(join(stale, 'vmlinux'), 'half a kernel');
    await pullKernelBundle({ entry: findCatalogEntry('debian-cloud'), destDir: bundleDir, cacheDir });
    expect(existsSync(stale)).toBe(false);
  });

  describe('published as tar.zst', () => {
    let packed: { file: string; sha256: string; size: number };
    let server: Awaited<ReturnType<typeof serveFile>>;

    beforeAll(async () => {
      packed = await packKernelBundle(bundleDir, join(work, 'debian-cloud.tar.zst'));
      server = await serveFile(packed.file);
    }, 300_000);
    afterAll(() => server?.close());

    it('packs the bundle with a sha256 file next to it', async () => {
      expect(await readFile(`${packed.file}.sha256`, 'utf8')).toBe(`${packed.sha256}  debian-cloud.tar.zst\n`);
      expect(packed.size).toBe((await stat(packed.file)).size);
      expect(packed.size).toBeLessThan(manifest.files['modules.ext4'].size + manifest.files.vmlinux.size);
    });

    it('pulls it from a URL and registers the same bundle', async () => {
      const destDir = join(work, 'pulled', 'debian-cloud');
      const downloads = join(work, 'cache-download');
      const pulled = await pullKernelBundle({
        entry: { name: 'debian-cloud', description: 'test', bundle: { url: server.url, sha256: packed.sha256 } },
        destDir,
        cacheDir: downloads,
      });
      expect(pulled.outcome).toBe('downloaded');
      expect(pulled.manifest).toEqual(manifest);
      expect(await readKernelBundle(destDir, { verify: true })).toEqual(manifest);
      // The archive goes once unpacked: no second copy of the bundle stays in the cache.
      expect(await readdir(join(downloads, 'bundles'))).toEqual([]);
    }, 120_000);

    it('resumes an interrupted download with an HTTP Range request', async () => {
      const downloads = join(work, 'cache-resume');
      await mkdir(join(downloads, 'bundles'), { recursive: true });
      const partial = join(downloads, 'bundles', `${packed.sha256}.tar.zst.partial`);
      const half = Math.floor(packed.size / 2);
      await writeFile(partial, (await readFile(packed.file)).subarray(0, half));
      const seen = server.ranges.length;
      const pulled = await pullKernelBundle({
        entry: { name: 'debian-cloud', description: 'test', bundle: { url: server.url, sha256: packed.sha256 } },
        destDir: join(work, 'resumed', 'debian-cloud'),
        cacheDir: downloads,
      });
      expect(pulled.outcome).toBe('downloaded');
      expect(server.ranges.slice(seen)).toEqual([`bytes=${half}-`]);
    }, 120_000);

    it('registers nothing when the downloaded bundle has the wrong sha256', async () => {
      const destDir = join(work, 'wrong', 'debian-cloud');
      const wrong = 'f'.repeat(64);
      await expect(
        pullKernelBundle({
          entry: { name: 'debian-cloud', description: 'test', bundle: { url: server.url, sha256: wrong }, recipe: { debPackage: 'linux-image-cloud-amd64' } },
          destDir,
          cacheDir: join(work, 'cache-wrong'),
        }),
      ).rejects.toThrow(`kernel bundle ${server.url} has sha256 ${packed.sha256}, the catalog says ${wrong}`);
      expect(existsSync(destDir)).toBe(false);
      expect(await leftovers(destDir)).toEqual([]);
      expect(await readdir(join(work, 'cache-wrong', 'bundles'))).toEqual([]);
    }, 120_000);

    it('says which URL failed when a bundle without a recipe is unreachable', async () => {
      const destDir = join(work, 'unreachable', 'debian-cloud');
      await expect(
        pullKernelBundle({
          entry: { name: 'debian-cloud', description: 'test', bundle: { url: 'http://127.0.0.1:9/debian-cloud.tar.zst', sha256: packed.sha256 } },
          destDir,
          cacheDir: join(work, 'cache-unreachable'),
        }),
      ).rejects.toThrow(/^cannot pull kernel debian-cloud: http:\/\/127\.0\.0\.1:9\/debian-cloud\.tar\.zst is unreachable \(.*\) and the entry has no recipe$/);
      expect(existsSync(destDir)).toBe(false);
    });

    it('builds from the recipe when the bundle URL is unreachable', async () => {
      const destDir = join(work, 'fallback', 'debian-cloud');
      const lines: string[] = [];
      const pulled = await pullKernelBundle({
        entry: { ...findCatalogEntry('debian-cloud'), bundle: { url: 'http://127.0.0.1:9/debian-cloud.tar.zst', sha256: packed.sha256 } },
        destDir,
        cacheDir,
        progress: { line: (text) => lines.push(text) },
      });
      expect(pulled.outcome).toBe('built');
      expect(pulled.manifest.version).toBe(manifest.version);
      expect(lines.some((line) => line.startsWith('bundle download failed'))).toBe(true);
    }, 600_000);
  });
});

