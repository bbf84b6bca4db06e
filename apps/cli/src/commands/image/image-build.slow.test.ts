import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { findExecutable } from '@banger/host';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';
import { withoutHostApt } from '../../../test/without-host-apt.js';
import { testCacheRoot } from '@banger/host/testing';

/**
 * Slow (mmdebstrap of debian-minimal: a minute or two warm, more cold): runs
 * only with BANGER_SLOW_TESTS=1. The apt archive cache is shared through
 * BANGER_CACHE_DIR set to the test cache root (testCacheRoot).
 */
const slow = process.env['BANGER_SLOW_TESTS'] === '1';
const canBuild = Boolean(findExecutable('mmdebstrap')) && Boolean(findExecutable('unshare')) && process.getuid?.() === 0;
const cacheDir = testCacheRoot();

let h: Harness;
let work: string;
const homes = new Set<string>();

async function banger(args: string[], timeoutMs = 60_000) {
  homes.add(h.home);
  // The host's apt sources are hidden: the daemon this starts builds from the Debian mirror alone.
  const [command, ...rest] = withoutHostApt([process.execPath, join(h.lib, 'banger.cjs'), ...args]);
  const r = await execa(command!, rest, {
    env: { ...h.env, BANGER_CACHE_DIR: cacheDir },
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

beforeAll(async () => {
  h = await createHarness();
  work = mkdtempSync(join(tmpdir(), 'banger-image-build-'));
}, 60_000);

afterAll(async () => {
  for (const home of homes) await h.banger(['daemon', 'stop'], { HOME: home, BANGER_HOME: home });
  await h?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!slow || !canBuild)(`banger image build debian-minimal (slow${!slow ? ': set BANGER_SLOW_TESTS=1' : ''}${!canBuild ? ', needs mmdebstrap and root' : ''})`, () => {
  it('builds and registers the image from its recipe', async () => {
    const r = await banger(['image', 'build', 'debian-minimal'], 30 * 60_000);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('[image-build:debian-minimal] plan: 2 to run, 0 to skip');
    expect(r.stderr).toMatch(/^\[image\.build\] \| mmdebstrap bookworm \(minbase, \d+ packages\)$/m);
    expect(r.stderr).toMatch(/^\[image\.build\] ok /m);
    expect(r.stdout).toMatch(/^image debian-minimal \S+ is ready \(.*images\/debian-minimal\/rootfs\.ext4\)$/m);
    const image = JSON.parse((await banger(['image', 'show', 'debian-minimal', '--json'])).stdout) as { origin: string; recipeHash: string; packageCount: number };
    expect(image.origin).toBe('recipe:debian-minimal');
    expect(image.recipeHash).toMatch(/^[0-9a-f]{64}$/);
    expect(image.packageCount).toBeGreaterThan(50);
  }, 31 * 60_000);

  it('makes rebuilding the unchanged recipe a no-op, and publishes without rebuilding', async () => {
    const again = await banger(['image', 'build', 'debian-minimal'], 120_000);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain('[image.build] skipped (satisfied)');
    expect(again.stderr).toContain('[image.register] skipped (satisfied)');

    const publishDir = join(work, 'catalog');
    const published = await banger(['image', 'build', 'debian-minimal', '--publish', publishDir], 10 * 60_000);
    expect(published.exitCode, published.stderr).toBe(0);
    expect(published.stderr).toContain('[image.build] skipped (satisfied)');
    expect(published.stderr).toMatch(/^\[image\.publish\] ok /m);
    const index = JSON.parse(readFileSync(join(publishDir, 'index.json'), 'utf8')) as { images: Array<{ name: string; bundle: { url: string } }> };
    const entry = index.images.find((e) => e.name === 'debian-minimal')!;
    expect(existsSync(join(publishDir, entry.bundle.url))).toBe(true);

    // A fresh home pulls it from that directory (catalog_url as a file:// URL) instead of building.
    h.freshHome();
    mkdirSync(join(h.home, 'config'), { recursive: true });
    writeFileSync(join(h.home, 'config', 'config.toml'), `catalog_url = "${pathToFileURL(publishDir).href}"\n`);
    const pulled = await banger(['image', 'pull', 'debian-minimal'], 10 * 60_000);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(pulled.stderr).toMatch(/^\[image\.fetch\] ok /m);
    expect(pulled.stderr).not.toContain('mmdebstrap');
  }, 25 * 60_000);
});
