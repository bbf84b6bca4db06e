import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CancelledError } from '@banger/errors';
import { findExecutable } from '@banger/host';
import { defaultTestCacheDir } from '../test-image.js';
import { buildImage } from './build-image.js';

const canBuild = Boolean(findExecutable('mmdebstrap')) && process.getuid?.() === 0;

describe.skipIf(!canBuild)('an image build that is cancelled', () => {
  const parent = mkdtempSync(join(tmpdir(), 'banger-abort-'));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));

  it('stops mmdebstrap inside the chroot and leaves no temp tree and no mounts behind', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const outDir = join(parent, 'debian-minimal');
    const error = await buildImage({
      recipeName: 'debian-minimal',
      outDir,
      cacheDir: join(defaultTestCacheDir(), 'build-cache'),
      force: true,
      signal: controller.signal,
      progress: {
        line: (l) => {
          lines.push(l);
          // By now /proc, /sys and /dev/pts are mounted inside the tree: the worst moment to die.
          if (l.includes('installing remaining packages inside the chroot')) controller.abort();
        },
      },
    }).catch((e: unknown) => e);
    expect(lines.some((l) => l.includes('installing remaining packages'))).toBe(true);
    expect(error).toBeInstanceOf(CancelledError);
    expect(readdirSync(parent)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(parent);
  }, 300_000);
});
