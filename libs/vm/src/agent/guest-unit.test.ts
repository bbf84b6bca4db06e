import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statInode } from '@banger/disks';
import { run } from '@banger/host';
import { prerequisites } from '@banger/host/testing';
import { readImageText } from '../image-files.js';
import { hasAgentUnit, installAgentUnit } from './guest-unit.js';

const needs = prerequisites(['mkfs.ext4', 'debugfs']);

describe.skipIf(needs.skip)(`the agent unit in a VM's rootfs${needs.missing.length ? ` (missing: ${needs.missing.join(', ')})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-agent-unit-'));
  beforeAll(() => needs.assert());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is written with its sysinit.target.wants link, root-owned, and found again', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc', 'systemd', 'system'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'x\n');
    const rootfs = join(dir, 'rootfs.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-d', tree, rootfs, '16M']);
    expect(await hasAgentUnit(rootfs)).toBe(false);

    await installAgentUnit(rootfs);
    expect(await hasAgentUnit(rootfs)).toBe(true);
    const unit = await readImageText(rootfs, '/etc/systemd/system/banger-agent.service');
    expect(unit).toContain('ExecStart=/run/banger/runtime/bin/banger-vsock-agent --auto\n');
    expect(unit).toContain('mount -o ro LABEL=banger-runtime /run/banger/runtime');
    expect(unit).toMatch(/^Restart=always$/m);
    expect(unit).toMatch(/^DefaultDependencies=no$/m);
    // Its only ordering: after the work disk's mount (commands run in /root), which waits for no udev.
    expect(unit!.split('\n').filter((l) => /^(After|Requires|Wants|BindsTo)=/.test(l))).toEqual(['After=banger-work-disk.service']);
    expect(unit).not.toMatch(/network|ssh/);
    expect(await statInode(rootfs, '/etc/systemd/system/banger-agent.service')).toMatchObject({ type: 'regular', uid: 0, gid: 0, mode: 0o644 });
    expect(await statInode(rootfs, '/etc/systemd/system/sysinit.target.wants/banger-agent.service')).toMatchObject({ type: 'symlink', linkTarget: '/etc/systemd/system/banger-agent.service' });

    // Installing again (a newer unit over an older one) replaces both.
    await installAgentUnit(rootfs);
    expect(await hasAgentUnit(rootfs)).toBe(true);
  });
});
