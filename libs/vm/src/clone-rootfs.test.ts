import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { cloneRootfs } from './clone-rootfs.js';
import { refillSpares, setSpareGate, sparesSettled } from './disk-spare.js';

const dir = mkdtempSync(join(tmpdir(), 'banger-clone-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function makeImage(name = 'image.ext4'): Promise<string> {
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'etc'), { recursive: true });
  writeFileSync(join(tree, 'etc', 'hostname'), 'image\n');
  const image = join(dir, name);
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, '-L', 'banger-root', image, '64M']);
  return image;
}

describe('cloneRootfs', () => {
  it('grows the copy to the disk size and keeps it sparse and readable', async () => {
    const image = await makeImage();
    const dest = join(dir, 'vm.ext4');
    const result = await cloneRootfs(image, dest, 512 * 2 ** 20);
    expect(result.sizeBytes).toBe(512 * 2 ** 20);
    expect(statSync(dest).blocks * 512).toBeLessThan(64 * 2 ** 20);
    const blocks = await run('dumpe2fs', ['-h', dest]);
    const count = Number(/Block count:\s+(\d+)/.exec(blocks.stdout)?.[1]);
    const size = Number(/Block size:\s+(\d+)/.exec(blocks.stdout)?.[1]);
    expect(count * size).toBe(512 * 2 ** 20);
    expect((await run('debugfs', ['-R', 'cat /etc/hostname', dest])).stdout).toBe('image\n');
  });

  it('checks and then grows an image that was not cleanly unmounted (resize2fs refuses it unchecked)', async () => {
    const image = await makeImage();
    // As a crash while mounted leaves it: the "valid" state bit cleared and a mount time after the last check.
    await run('debugfs', ['-w', '-R', 'ssv state 0', image]);
    await run('debugfs', ['-w', '-R', `ssv mtime ${Math.floor(Date.now() / 1000)}`, image]);
    expect((await run('dumpe2fs', ['-h', image])).stdout).toMatch(/Filesystem state:\s+not clean/);
    const dest = join(dir, 'unclean.ext4');
    await cloneRootfs(image, dest, 256 * 2 ** 20);
    const header = (await run('dumpe2fs', ['-h', dest])).stdout;
    expect(header).toMatch(/Filesystem state:\s+clean/);
    expect(Number(/Block count:\s+(\d+)/.exec(header)?.[1]) * Number(/Block size:\s+(\d+)/.exec(header)?.[1])).toBe(256 * 2 ** 20);
    expect((await run('e2fsck', ['-fn', dest], { allowFailure: true })).exitCode).toBe(0);
  });

  it('grows an image once per file and disk size into the bases dir, and copies that base for every VM after', async () => {
    const image = await makeImage('based.ext4');
    const bases = join(dir, 'bases');
    const first = join(dir, 'based-1.ext4');
    await cloneRootfs(image, first, 256 * 2 ** 20, undefined, { basesDir: bases });
    const made = readdirSync(bases).filter((n) => n.endsWith('.ext4'));
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(/-268435456\.ext4$/);
    const baseInode = statSync(join(bases, made[0]!)).ino;
    const second = join(dir, 'based-2.ext4');
    await cloneRootfs(image, second, 256 * 2 ** 20, undefined, { basesDir: bases });
    // The same base, not made again; both copies are whole, grown file systems of their own.
    expect(statSync(join(bases, made[0]!)).ino).toBe(baseInode);
    for (const copy of [first, second]) {
      const header = (await run('dumpe2fs', ['-h', copy])).stdout;
      expect(Number(/Block count:\s+(\d+)/.exec(header)?.[1]) * Number(/Block size:\s+(\d+)/.exec(header)?.[1])).toBe(256 * 2 ** 20);
      expect((await run('e2fsck', ['-fn', copy], { allowFailure: true })).exitCode).toBe(0);
      expect((await run('debugfs', ['-R', 'cat /etc/hostname', copy])).stdout).toBe('image\n');
    }
    await run('debugfs', ['-w', '-R', 'rm /etc/hostname', second]);
    expect((await run('debugfs', ['-R', 'cat /etc/hostname', first])).stdout).toBe('image\n');
    // Another disk size is another base; the image file changing (a re-pull) replaces its bases.
    await cloneRootfs(image, join(dir, 'based-3.ext4'), 320 * 2 ** 20, undefined, { basesDir: bases });
    expect(readdirSync(bases).filter((n) => n.endsWith('.ext4'))).toHaveLength(2);
    utimesSync(image, new Date(), new Date(Date.now() + 5_000));
    await cloneRootfs(image, join(dir, 'based-4.ext4'), 256 * 2 ** 20, undefined, { basesDir: bases });
    const after = readdirSync(bases).filter((n) => n.endsWith('.ext4'));
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(made[0]);
    // An image whose file is gone loses its bases when the next base is made.
    const other = await makeImage('other.ext4');
    await cloneRootfs(other, join(dir, 'other-1.ext4'), 256 * 2 ** 20, undefined, { basesDir: bases });
    rmSync(image);
    await cloneRootfs(other, join(dir, 'other-2.ext4'), 384 * 2 ** 20, undefined, { basesDir: bases });
    expect(readdirSync(bases).filter((n) => n.endsWith('.ext4'))).toHaveLength(2);
    expect(readdirSync(bases).filter((n) => n.endsWith('.source'))).toHaveLength(1);
  });

  it('takes a spare copy of the base made after the last VM, byte for byte the base, and makes the next one only when asked', async () => {
    const image = await makeImage('spared.ext4');
    const bases = join(dir, 'spare-bases');
    const spares = join(dir, 'spares');
    const warnings: string[] = [];
    const log = { warn: (_fields: Record<string, unknown> | string, message?: string) => void warnings.push(message ?? '') };
    const clone = (name: string) => cloneRootfs(image, join(dir, name), 256 * 2 ** 20, undefined, { basesDir: bases, sparesDir: spares });
    const spareFiles = (): string[] => (existsSync(spares) ? readdirSync(spares).filter((n) => n.endsWith('.ext4')) : []);
    const baseFile = (): string => join(bases, readdirSync(bases).filter((n) => n.endsWith('.ext4'))[0]!);
    const same = async (a: string, b: string): Promise<boolean> => (await run('cmp', [a, b], { allowFailure: true })).exitCode === 0;
    const refill = async (): Promise<void> => {
      refillSpares(log);
      await sparesSettled();
    };
    // No spare yet: a copy of the base; no spare is made until the refill is asked for (after the VM's graph).
    expect((await clone('spare-1.ext4')).method).not.toBe('spare');
    expect(spareFiles()).toEqual([]);
    await refill();
    expect(spareFiles()).toHaveLength(1);
    expect(await same(baseFile(), join(spares, spareFiles()[0]!))).toBe(true);
    // The next VM takes it (a rename): its copy is the base's bytes, and the spare is gone until the next refill.
    expect(await clone('spare-2.ext4')).toEqual({ method: 'spare', sizeBytes: 256 * 2 ** 20 });
    expect(await same(baseFile(), join(dir, 'spare-2.ext4'))).toBe(true);
    expect(spareFiles()).toEqual([]);
    await refill();
    const [first] = spareFiles();
    expect(first).toBeDefined();
    // A re-pulled image (its file changed): a new base; the old base's spare is not taken, and goes at the next refill.
    utimesSync(image, new Date(), new Date(Date.now() + 5_000));
    expect((await clone('spare-3.ext4')).method).not.toBe('spare');
    await refill();
    expect(spareFiles()).toHaveLength(1);
    expect(spareFiles()).not.toContain(first);
    expect(await same(baseFile(), join(spares, spareFiles()[0]!))).toBe(true);
    // Nothing but the spare and the note of what it copies.
    expect(readdirSync(spares).sort()).toEqual([spareFiles()[0]!, spareFiles()[0]!.replace(/\.ext4$/, '.source')].sort());
    expect(warnings).toEqual([]);
  });

  it('makes no spare before its gate opens (the daemon: a quiet moment, not beside the command vm run sends next)', async () => {
    const image = await makeImage('gated.ext4');
    const spares = join(dir, 'gated-spares');
    let open: () => void = () => undefined;
    setSpareGate(() => new Promise<void>((resolve) => (open = resolve)));
    try {
      await cloneRootfs(image, join(dir, 'gated-1.ext4'), 256 * 2 ** 20, undefined, { basesDir: join(dir, 'gated-bases'), sparesDir: spares });
      refillSpares({ warn: () => undefined });
      await new Promise((r) => setTimeout(r, 300));
      expect(existsSync(spares) ? readdirSync(spares).filter((n) => n.endsWith('.ext4')) : []).toEqual([]);
      open();
      await sparesSettled();
      expect(readdirSync(spares).filter((n) => n.endsWith('.ext4'))).toHaveLength(1);
    } finally {
      setSpareGate(undefined);
    }
  });

  it('refuses a disk smaller than the image and leaves nothing behind', async () => {
    const image = await makeImage();
    const dest = join(dir, 'small.ext4');
    await expect(cloneRootfs(image, dest, 16 * 2 ** 20)).rejects.toThrow(/smaller than the image/);
    expect(existsSync(dest)).toBe(false);
  });
});
