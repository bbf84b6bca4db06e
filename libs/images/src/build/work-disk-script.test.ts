import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prerequisites } from '@banger/host/testing';
import { WORK_DISK_SCRIPT } from './guest-config.js';

const needs = prerequisites(['mkfs.ext4', 'debugfs', 'e2label', 'od']);

/**
 * The guest's work-disk mount script, run on the host against real ext4
 * files: the device is a file, the mounts are echoed instead of done. What it
 * decides from the superblock is what the guest does at boot.
 */
describe.skipIf(needs.skip)(`the work-disk mount script${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-work-disk-'));
  beforeAll(() => needs.assert());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const disk = (name: string, label: string): string => {
    const file = join(dir, name);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', label, file, '16M']);
    return file;
  };
  const runScript = (device: string): string => {
    const script = WORK_DISK_SCRIPT.replace('dev=/dev/vdb', `dev=${device}`)
      .replace('[ ! -b "$dev" ]', '[ ! -e "$dev" ]')
      .replace('< /proc/mounts', '< /dev/null')
      .replace(/^ *exec mount .*LABEL=banger-work \/root$/m, 'echo "mount by label"; exit 0')
      .replace(/^exec mount -t ext4 .*$/m, 'echo "mount $dev"');
    const file = join(dir, 'script.sh');
    writeFileSync(file, script);
    return execFileSync('sh', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  };

  it('mounts a disk banger just made straight from the device, without a check', () => {
    const fresh = disk('fresh.ext4', 'banger-work');
    expect(runScript(fresh)).toBe(`mount ${fresh}\n`);
  });

  it('checks a disk that was mounted before (e2fsck -p, instant when clean), then mounts it', () => {
    const used = disk('used.ext4', 'banger-work');
    execFileSync('debugfs', ['-w', '-R', 'ssv mnt_count 3', used], { stdio: 'ignore' });
    expect(runScript(used)).toMatch(new RegExp(`^banger-work: clean, .*\\nmount ${used.replace(/[.]/g, '\\.')}\\n$`));
  });

  it('falls back to the label when the device is not the banger-work ext4', () => {
    expect(runScript(disk('other.ext4', 'banger-workx'))).toBe('mount by label\n');
    expect(runScript(disk('short.ext4', 'banger'))).toBe('mount by label\n');
    const notExt4 = join(dir, 'zeros');
    writeFileSync(notExt4, Buffer.alloc(4096));
    expect(runScript(notExt4)).toBe('mount by label\n');
  });
});
