import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorkDisk, readImageFile } from '@banger/disks';
import { prerequisites } from '@banger/host/testing';
import { workDiskFromBase } from './work-disk-base.js';

const tools = prerequisites(['mkfs.ext4', 'debugfs', 'cp']);
const dir = mkdtempSync(join(tmpdir(), 'banger-work-base-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MiB = 2 ** 20;
let builds = 0;
/** A real work disk holding authorized_keys = `key`, as vm.sync-files builds one. */
const builder = (key: string) => async (target: string) => {
  builds++;
  const staging = mkdtempSync(join(dir, 'stage-'));
  mkdirSync(join(staging, '.ssh'), { mode: 0o700 });
  writeFileSync(join(staging, '.ssh', 'authorized_keys'), key, { mode: 0o600 });
  await makeWorkDisk(staging, target, 16 * MiB);
  rmSync(staging, { recursive: true, force: true });
};

describe.skipIf(tools.skip)(`work disks copied from a base made once (workDiskFromBase)${tools.skip ? ` (missing: ${tools.missing.join(', ')})` : ''}`, () => {
  beforeAll(() => tools.assert());
  const bases = join(dir, 'bases');

  it('builds the base on first use, then gives each VM a copy of it without building again', async () => {
    const inputs = { skeleton: undefined, authorizedKey: 'ssh-ed25519 AAAA one\n', sizeBytes: 16 * MiB };
    builds = 0;
    const first = join(dir, 'vm1.ext4');
    const second = join(dir, 'vm2.ext4');
    expect(await workDiskFromBase(bases, inputs, first, builder(inputs.authorizedKey))).toBe('built');
    expect(await workDiskFromBase(bases, inputs, second, builder(inputs.authorizedKey))).toBe('copied');
    expect(builds).toBe(1);
    for (const disk of [first, second]) {
      expect((await readImageFile(disk, '/.ssh/authorized_keys')).toString()).toBe('ssh-ed25519 AAAA one\n');
      expect(statSync(disk).size).toBe(16 * MiB);
    }
    // The copies are sparse: far less on disk than the 16 MiB they are long.
    expect(statSync(second).blocks * 512).toBeLessThan(8 * MiB);
    expect(readdirSync(bases).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('makes a new base when the key or the size changes, and keeps only the four used last', async () => {
    builds = 0;
    for (const [i, key] of ['k1', 'k2', 'k3', 'k4', 'k5'].entries()) {
      await workDiskFromBase(bases, { skeleton: undefined, authorizedKey: key, sizeBytes: 16 * MiB }, join(dir, `p${i}.ext4`), builder(key));
      // Distinct mtimes: pruning goes by last use.
      for (const name of readdirSync(bases)) utimesSync(join(bases, name), new Date(Date.now() - (10 - i) * 60_000), new Date(Date.now() - (10 - i) * 60_000));
    }
    expect(builds).toBe(5);
    expect(readdirSync(bases).filter((n) => n.endsWith('.ext4'))).toHaveLength(4);
    // A size of its own is a base of its own.
    expect(await workDiskFromBase(bases, { skeleton: undefined, authorizedKey: 'k5', sizeBytes: 32 * MiB }, join(dir, 'big.ext4'), builder('k5'))).toBe('built');
  });

  it('leaves neither a base nor a temp file when building fails', async () => {
    const empty = join(dir, 'empty-bases');
    const failing = async (target: string) => {
      writeFileSync(target, 'half');
      throw new Error('mkfs failed');
    };
    await expect(workDiskFromBase(empty, { skeleton: undefined, authorizedKey: 'x', sizeBytes: 16 * MiB }, join(dir, 'never.ext4'), failing)).rejects.toThrow('mkfs failed');
    expect(readdirSync(empty)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.startsWith('never'))).toEqual([]);
  });
});
