import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles } from './helpers/banger-cli.js';
import { findCachedImage } from './vm-run-image.js';

/**
 * The golden image's promise through `vm run`: Docker, git, jq and mise work
 * in a fresh sandbox. Slow (the debian-bookworm build takes minutes and the
 * guest boots Docker), so it runs only with BANGER_SLOW_TESTS=1, using the
 * debian-bookworm image the images lib's slow test builds into the test cache
 * (`ensureTestImage(cache, progress, 'debian-bookworm')`).
 */
describe.skipIf(!process.env['BANGER_NETNS'] || process.env['BANGER_SLOW_TESTS'] !== '1')('vm run on the golden image (BANGER_SLOW_TESTS=1, netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let golden: string | undefined;

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    golden = await findCachedImage('debian-bookworm');
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bgold-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    if (golden) await run('cp', ['-r', '--reflink=auto', '--sparse=always', golden, join(home.stateDir, 'images', 'debian-bookworm')]);
    await home.writeConfig(['hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 2', 'memory_mib = 1536', ''].join('\n'));
  }, 120_000);

  afterAll(async () => {
    if (home) {
      await home.cli(['daemon', 'stop'], { timeoutMs: 60_000 });
      home.remove();
    }
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  it('runs docker, git, jq and mise in a fresh --rm sandbox', async () => {
    if (!golden) throw new Error('no debian-bookworm image in the test cache: build it outside the netns first (ensureTestImage(cache, progress, "debian-bookworm"))');
    const result = await home.cli(['vm', 'run', '--rm', '--', 'sh', '-c', 'docker info >/dev/null && git --version && jq --version && mise --version'], { timeoutMs: 12 * 60_000 });
    expect(result.exitCode, `${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/^git version \d/m);
    expect(result.stdout).toMatch(/^jq-\d/m);
    expect(result.stdout).toMatch(/\d{4}\.\d+\.\d+/);
  });
});
