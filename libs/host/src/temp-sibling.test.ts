import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanStaleTemps, tempSibling } from './temp-sibling.js';

describe('temp siblings', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('removes leftovers of dead processes and keeps those of live ones', async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-atomic-'));
    const dead = spawnSync('true').pid!; // a pid that has exited
    mkdirSync(join(dir, `debian-minimal.tmp-${dead}-0123abcd`, 'tree'), { recursive: true });
    writeFileSync(join(dir, `other-image.tmp-${dead}-89abcdef`), 'x');
    const mine = tempSibling(join(dir, 'debian-minimal'));
    mkdirSync(mine);
    mkdirSync(join(dir, 'debian-minimal'));
    const removed = await cleanStaleTemps(join(dir, 'debian-minimal'));
    expect(removed.sort()).toEqual([join(dir, `debian-minimal.tmp-${dead}-0123abcd`), join(dir, `other-image.tmp-${dead}-89abcdef`)]);
    expect(readdirSync(dir).sort()).toEqual(['debian-minimal', mine.slice(dir.length + 1)].sort());
  });
});
