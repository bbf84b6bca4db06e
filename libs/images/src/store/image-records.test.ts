import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '@banger/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImageManifest } from '../manifest.js';
import { registerImage } from './image-home.js';
import { ImageRecords, imageOciOrigin, imageOrigin } from './image-records.js';

const manifest = (source: string): ImageManifest => ({
  name: 'x',
  version: '1',
  sizeBytes: 1024,
  files: { 'rootfs.ext4': { sha256: 'ab'.repeat(32), size: 1024 } },
  defaultKernel: 'debian-cloud',
  packages: ['a=1', 'b=2'],
  builtAt: '2024-01-02T03:04:05.000Z',
  source,
});

const oci = { reference: 'docker.io/library/alpine:3.20', manifestDigest: `sha256:${'1'.repeat(64)}`, indexDigest: `sha256:${'2'.repeat(64)}`, configDigest: `sha256:${'3'.repeat(64)}`, provisioned: true };

describe('ImageRecords', () => {
  let dir: string;
  let db: Database;
  let images: ImageRecords;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-image-records-'));
    db = openDatabase(join(dir, 'banger.db'));
    images = new ImageRecords(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows a catalog image with its origin, package count and build time, and no OCI source', () => {
    registerImage({ table: images }, 'debian', '/images/debian', manifest('https://example.test/debian.tar.zst'));
    const row = images.get('debian');
    expect(images.info(row)).toMatchObject({
      name: 'debian',
      dir: '/images/debian',
      rootfsPath: '/images/debian/rootfs.ext4',
      kernel: 'debian-cloud',
      origin: 'https://example.test/debian.tar.zst',
      packageCount: 2,
      builtAt: '2024-01-02T03:04:05.000Z',
      usedBy: [],
    });
    expect(images.info(row).oci).toBeUndefined();
    expect(images.ociSource(row)).toBeUndefined();
    expect(imageOciOrigin(row)).toBeUndefined();
    expect(imageOrigin(row)).toBe('https://example.test/debian.tar.zst');
  });

  it('keeps the registry digests of an OCI pull', () => {
    registerImage({ table: images }, 'alpine', '/images/alpine', manifest(`oci:${oci.reference}`), oci);
    const row = images.get('alpine');
    expect(images.ociSource(row)).toEqual(oci);
    expect(images.info(row)).toMatchObject({ origin: `oci:${oci.reference}`, oci });
  });

  it('reads a row with a source it does not understand defensively', () => {
    images.put({ name: 'odd', version: '1', dir: '/images/odd', rootfsPath: '/images/odd/rootfs.ext4', sizeBytes: 1, sha256: 'x', kernelName: null, source: 'not an object' });
    db.prepare("UPDATE images SET source = '{broken' WHERE name = 'odd'").run();
    const row = images.get('odd');
    expect(images.info(row)).toMatchObject({ origin: 'unknown', packageCount: 0, kernel: null, builtAt: new Date(row.created_at).toISOString() });
    expect(images.ociSource(row)).toBeUndefined();
  });

  it('names the registered images when one is missing', () => {
    registerImage({ table: images }, 'debian', '/images/debian', manifest('x'));
    expect(() => images.get('nope')).toThrow(expect.objectContaining({ code: 'IMAGE_NOT_FOUND', message: 'image nope is not registered (registered: debian)' }));
  });
});
