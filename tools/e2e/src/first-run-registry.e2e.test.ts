import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { startRegistry, type TestRegistry } from '@banger/oci/testing';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;
const prereq = prerequisites(['docker-registry', 'qemu-system-x86_64', 'zstd', 'mkfs.ext4']);

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Issue #22's promise, end to end: a team publishes the golden bundles to its
 * own registry once, and on a machine with nothing installed the very first
 * `banger vm run` pulls the kernel and the image from there (no build) and
 * boots. The fetch steps inside `vm run` are the ones under test: no test
 * copies a bundle into this BANGER_HOME. Real CLI, real bangerd, a real
 * `docker-registry` and a real QEMU guest, all inside the throwaway netns.
 */
describe.skipIf(!process.env['BANGER_NETNS'] || prereq.skip)('the first vm run on an empty machine, from bundles published to an OCI registry (inside a throwaway netns)', () => {
  let binDir: string;
  let work: string;
  let registry: TestRegistry;
  let publisher: BangerHome;
  let user: BangerHome;
  let artifacts: Awaited<ReturnType<typeof loadArtifacts>>;
  const published: { image?: string; kernel?: string } = {};

  beforeAll(async () => {
    prereq.assert();
    artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    work = mkdtempSync(join(tmpdir(), 'bfirst-'));
    registry = await startRegistry(join(work, 'registry'));
    publisher = new BangerHome(binDir, 'bpub-');
    user = new BangerHome(binDir, 'bnew-');
  }, 5 * 60_000);

  afterAll(async () => {
    for (const home of [user, publisher]) {
      if (!home) continue;
      await home.cli(['daemon', 'stop'], { timeoutMs: 60_000 });
      home.remove();
    }
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  it('publishes a registered image and an imported kernel to the registry', async () => {
    const register = await publisher.cli(['image', 'register', '--name', 'debian-minimal', '--rootfs', join(artifacts.imageDir, 'rootfs.ext4')], { timeoutMs: BOOT_MS });
    expect(register.exitCode, register.stderr).toBe(0);
    const imported = await publisher.cli(['kernel', 'import', artifacts.kernelDir], { timeoutMs: BOOT_MS });
    expect(imported.exitCode, imported.stderr).toBe(0);
    const image = await publisher.cli(['image', 'publish', 'debian-minimal', `oci://${registry.host}/team/debian-minimal:e2e`], { timeoutMs: BOOT_MS });
    expect(image.exitCode, image.stderr).toBe(0);
    published.image = /^published image debian-minimal as (oci:\/\/\S+@sha256:[0-9a-f]{64})$/m.exec(image.stdout)?.[1];
    expect(published.image, image.stdout).toMatch(new RegExp(`^oci://${registry.host}/team/debian-minimal:e2e@sha256:`));

    const kernel = await publisher.cli(['kernel', 'publish', 'debian-cloud', `oci://${registry.host}/team/kernel:e2e`], { timeoutMs: BOOT_MS });
    expect(kernel.exitCode, kernel.stderr).toBe(0);
    published.kernel = /^published kernel debian-cloud as (oci:\/\/\S+@sha256:[0-9a-f]{64})$/m.exec(kernel.stdout)?.[1];
    expect(published.kernel, kernel.stdout).toMatch(new RegExp(`^oci://${registry.host}/team/kernel:e2e@sha256:`));
  }, BOOT_MS);

  it('runs `vm run --rm -- cmd` on an empty BANGER_HOME: both bundles are pulled from the registry, not built, and the guest answers', async () => {
    expect(published.image && published.kernel, 'the publish test must pass first').toBeTruthy();
    const catalogs = join(work, 'catalogs');
    mkdirSync(catalogs, { recursive: true });
    writeFileSync(join(catalogs, 'images.json'), JSON.stringify({ version: 1, images: [{ name: 'debian-minimal', description: 'the team image', oci: published.image }] }));
    writeFileSync(join(catalogs, 'kernels.json'), JSON.stringify({ formatVersion: 1, entries: [{ name: 'debian-cloud', description: 'the team kernel', oci: published.kernel }] }));
    await user.writeConfig(
      [
        `catalog_url = "file://${join(catalogs, 'images.json')}"`,
        `kernel_catalog_url = "file://${join(catalogs, 'kernels.json')}"`,
        'default_image_name = "debian-minimal"',
        'hypervisor = "qemu"',
        '[vm_defaults]',
        'vcpu = 1',
        'memory_mib = 512',
        'disk_size = "1G"',
        '',
      ].join('\n'),
    );
    expect(existsSync(join(user.stateDir, 'images'))).toBe(false);

    const r = await user.cli(['vm', 'run', '--rm', '--name', 'first', '--', 'sh', '-c', 'uname -r; cat /etc/hostname; exit 3'], { timeoutMs: BOOT_MS });
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${user.consoleTail('first')}`).toBe(3);
    expect(r.stdout.trim().split('\n')).toEqual([artifacts.kernelVersion, 'first']);
    // The fetch steps ran the pull graphs, and those pulled from the registry: no build anywhere.
    expect(r.stderr).toContain(`kernel:debian-cloud: Pull kernel debian-cloud from ${published.kernel}`);
    expect(r.stderr).toContain(`image:debian-minimal: Pull image debian-minimal from ${published.image}`);
    expect(r.stderr).not.toMatch(/\bBuild (kernel|image)\b|mmdebstrap|apt-get/);

    // What arrived is byte for byte what was published.
    expect(await sha256File(join(user.stateDir, 'images', 'debian-minimal', 'rootfs.ext4'))).toBe(await sha256File(join(artifacts.imageDir, 'rootfs.ext4')));
    expect(await sha256File(join(user.stateDir, 'kernels', 'debian-cloud', 'vmlinux'))).toBe(await sha256File(join(artifacts.kernelDir, 'vmlinux')));
    const list = await user.cli(['vm', 'list', '--json'], { timeoutMs: 60_000 });
    expect(JSON.parse(list.stdout)).toEqual([]);
  }, 2 * BOOT_MS);
});
