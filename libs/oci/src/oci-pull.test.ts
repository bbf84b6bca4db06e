import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerImage, type ImageManifest } from '@banger/images';
import { ImagesTable, openDatabase, type Database } from '@banger/store';
import type { GraphRunOutcome, GraphRunner, RunGraphOptions } from '@banger/taskgraph';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneImageBlobs } from './oci-prune.js';
import { pullRegistryImage, type OciImageHome } from './oci-pull.js';

const manifest = (source: string): ImageManifest => ({
  name: 'x',
  version: '1',
  sizeBytes: 1024,
  files: { 'rootfs.ext4': { sha256: 'ab'.repeat(32), size: 1024 } },
  defaultKernel: 'debian-cloud',
  packages: [],
  builtAt: '2024-01-02T03:04:05.000Z',
  source,
});

const run = { signal: new AbortController().signal, emit: () => {} };
const explained: GraphRunOutcome = { explained: true, plan: { graphId: 'g', steps: [], conflicts: [] } };

/** A runner that records what it was asked to run and answers `outcome` once released. */
function fakeRunner(outcome: GraphRunOutcome = explained): { runner: GraphRunner; calls: RunGraphOptions[]; release: () => void } {
  const calls: RunGraphOptions[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    calls,
    release,
    runner: async (options) => {
      calls.push(options);
      await gate;
      return outcome;
    },
  };
}

describe('pullRegistryImage (graph wiring, no registry)', () => {
  let dir: string;
  let db: Database;
  let home: OciImageHome;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-oci-home-'));
    db = openDatabase(join(dir, 'banger.db'));
    home = { imagesDir: join(dir, 'images'), cacheDir: join(dir, 'cache'), stateDir: join(dir, 'state'), table: new ImagesTable(db) };
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs image.oci-pull → image.register as graph image:<name> under the image:<name> lock, named after the reference', async () => {
    const fake = fakeRunner();
    fake.release();
    const outcome = await pullRegistryImage(home, { reference: 'alpine:3.20' }, fake.runner, { ...run, explain: true });
    expect(outcome).toMatchObject({ explained: true, name: 'alpine-3-20', reference: 'docker.io/library/alpine:3.20', pulled: undefined });
    expect(fake.calls).toHaveLength(1);
    const call = fake.calls[0]!;
    expect(call).toMatchObject({ graphId: 'image:alpine-3-20', lockKey: 'image:alpine-3-20', explain: true });
    expect(call.steps.map((step) => [step.id, step.needs])).toEqual([
      ['image.oci-pull', []],
      ['image.register', ['image.oci-pull']],
    ]);
  });

  it('refuses to pull over an image registered from something else, naming both', async () => {
    registerImage(home, 'debian', join(home.imagesDir, 'debian'), manifest('https://example.test/debian.tar.zst'));
    const fake = fakeRunner();
    await expect(pullRegistryImage(home, { reference: 'debian:bookworm', name: 'debian' }, fake.runner, run)).rejects.toMatchObject({
      code: 'IMAGE_EXISTS',
      message: 'cannot pull docker.io/library/debian:bookworm as image debian: debian is already registered from https://example.test/debian.tar.zst',
    });
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses an invalid image name before running anything', async () => {
    const fake = fakeRunner();
    await expect(pullRegistryImage(home, { reference: 'alpine', name: 'Bad/Name' }, fake.runner, run)).rejects.toMatchObject({ code: 'IMAGE_BAD_NAME' });
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses a prune while a pull runs, and prunes once it is done', async () => {
    const fake = fakeRunner();
    const pulling = pullRegistryImage(home, { reference: 'alpine:3.20' }, fake.runner, run);
    await new Promise((resolve) => setImmediate(resolve));
    expect(fake.calls).toHaveLength(1);
    await expect(pruneImageBlobs(home)).rejects.toMatchObject({ code: 'IMAGE_PRUNE_BUSY', message: 'cannot prune the OCI blob cache now: 1 image pull(s) running' });
    fake.release();
    await pulling;
    await expect(pruneImageBlobs(home)).resolves.toEqual({ removedBlobs: [], freedBytes: 0, keptImages: [], cacheDir: join(home.cacheDir, 'oci', 'blobs', 'sha256') });
  });

  it('keeps the registered OCI images when pruning', async () => {
    const oci = { reference: 'docker.io/library/alpine:3.20', manifestDigest: `sha256:${'1'.repeat(64)}`, configDigest: `sha256:${'3'.repeat(64)}`, provisioned: false };
    registerImage(home, 'alpine', join(home.imagesDir, 'alpine'), manifest(`oci:${oci.reference}`), oci);
    registerImage(home, 'debian', join(home.imagesDir, 'debian'), manifest('https://example.test/debian.tar.zst'));
    await expect(pruneImageBlobs(home)).resolves.toMatchObject({ keptImages: ['alpine'] });
  });
});
