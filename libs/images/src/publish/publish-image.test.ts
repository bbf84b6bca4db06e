import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { makeTinyRootfs } from '../__fixtures__/tiny-rootfs.js';
import type { CatalogIndex } from '../catalog/catalog-schema.js';
import { registerRootfs } from '../register-rootfs.js';
import { publishImage } from './publish-image.js';

const tools = ['mkfs.ext4', 'debugfs', 'zstd'].every((t) => findExecutable(t));

describe.skipIf(!tools)('publishImage', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-publish-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const index = (): CatalogIndex => JSON.parse(readFileSync(join(dir, 'publish', 'index.json'), 'utf8'));

  it('adds entries to an existing index and replaces an image entry on republish, keeping the others', async () => {
    const register = async (name: string, file: string) => {
      await registerRootfs({ name, rootfsPath: makeTinyRootfs(join(dir, file)), destDir: join(dir, 'images', `${name}-${file}`) });
      return join(dir, 'images', `${name}-${file}`);
    };
    await publishImage(await register('debian-minimal', 'a.ext4'), join(dir, 'publish'));
    await publishImage(await register('other', 'b.ext4'), join(dir, 'publish'), { description: 'another image' });
    expect(index().images.map((e) => [e.name, e.description])).toEqual([
      ['debian-minimal', 'Debian 12 minbase + systemd + sshd: small and quick to boot (tests)'],
      ['other', 'another image'],
    ]);
    const first = index().images[0]!.bundle!.url;

    const entry = await publishImage(await register('debian-minimal', 'c.ext4'), join(dir, 'publish'));
    expect(index().images.map((e) => e.name)).toEqual(['debian-minimal', 'other']);
    expect(index().images[0]).toEqual(entry);
    expect(entry.bundle!.url).not.toBe(first);
    expect(entry.description).toBe('Debian 12 minbase + systemd + sshd: small and quick to boot (tests)');
  });
});
