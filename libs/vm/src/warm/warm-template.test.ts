import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { whyNotRestorable } from './warm-restore.js';
import { pruneWarmTemplates, removeWarmTemplatesOf, warmTemplatesOf } from './warm-housekeeping.js';
import { readWarmTemplate, warmFingerprint, warmRoot, whyWarmTemplateDamaged, WarmTemplateDir, type WarmInputs, type WarmTemplateMeta } from './warm-template.js';
import type { BootedWith } from '../suspended-state.js';

const inputs: WarmInputs = {
  image: 'debian-minimal', imageSha256: 'a'.repeat(64), kernel: 'debian-cloud', kernelFiles: '1:2,3:4,5:6',
  runtimeDisk: '/state/runtime/k1.ext4', agentUnit: 'u1', hypervisor: '/usr/bin/qemu-system-x86_64', hypervisorVersion: '7.2.22', accel: 'tcg',
  vcpu: '1', memoryMib: '512', diskBytes: String(2 ** 30), revision: '1',
};

const booted = (over: Partial<BootedWith['spec']> = {}, binary = '/usr/bin/qemu-system-x86_64'): BootedWith => ({
  binary,
  spec: {
    id: 'tpl_x', name: 'template-x', vcpu: 1, memoryMib: 512,
    kernel: { vmlinux: '/k/vmlinux', initrd: '/k/initrd' },
    bootArgs: 'console=ttyS0 ip=172.16.0.254::172.16.0.1:255.255.255.0:banger-template:eth0:off:172.16.0.1',
    disks: [
      { id: 'rootfs', path: '/warm/x/rootfs.ext4', readOnly: false },
      { id: 'work', path: '/warm/x/work.ext4', readOnly: false },
      { id: 'modules', path: '/k/modules.ext4', readOnly: true },
      { id: 'runtime', path: '/state/runtime/k1.ext4', readOnly: true },
    ],
    net: { tap: 'bgr-tpl', mac: '06:00:ac:10:00:fe' },
    consoleLogPath: '/warm/x/console.log', agentSocketPath: '/warm/x/agent.sock', vmDir: '/warm/x',
    ...over,
  },
});

describe('warm template fingerprint', () => {
  it('is 16 hex digits, stable, and changes with every input', () => {
    const fp = warmFingerprint(inputs);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(warmFingerprint({ ...inputs })).toBe(fp);
    for (const key of Object.keys(inputs) as Array<keyof WarmInputs>) {
      expect(warmFingerprint({ ...inputs, [key]: `${inputs[key]}x` }), key).not.toBe(fp);
    }
  });
});

describe('whyNotRestorable', () => {
  it('accepts another VM: its own disk copies, tap, MAC, name and boot arguments', () => {
    const vm = booted({
      id: 'vm_1', name: 'warm-a', bootArgs: 'console=ttyS0 ip=172.16.0.2::…',
      disks: [
        { id: 'rootfs', path: '/vms/warm-a/rootfs.ext4', readOnly: false },
        { id: 'work', path: '/vms/warm-a/work.ext4', readOnly: false },
        { id: 'modules', path: '/k/modules.ext4', readOnly: true },
        { id: 'runtime', path: '/state/runtime/k1.ext4', readOnly: true },
      ],
      net: { tap: 'bgr-a', mac: '06:00:ac:10:00:02' }, vmDir: '/vms/warm-a',
    });
    expect(whyNotRestorable(booted(), vm)).toBeUndefined();
  });

  it('refuses another hypervisor binary, machine size, kernel, shared disk or device set, naming it', () => {
    expect(whyNotRestorable(booted(), booted({}, '/opt/qemu'))).toMatch(/saved by \/usr\/bin\/qemu-system-x86_64, not \/opt\/qemu/);
    expect(whyNotRestorable(booted(), booted({ memoryMib: 1024 }))).toMatch(/memoryMib/);
    expect(whyNotRestorable(booted(), booted({ vcpu: 2 }))).toMatch(/vcpu/);
    expect(whyNotRestorable(booted(), booted({ kernel: { vmlinux: '/k2/vmlinux', initrd: '/k/initrd' } }))).toMatch(/kernel/);
    const disks = booted().spec.disks;
    expect(whyNotRestorable(booted(), booted({ disks: [...disks.slice(0, 3), { id: 'runtime', path: '/state/runtime/k2.ext4', readOnly: true }] }))).toMatch(/agent runtime disk/);
    expect(whyNotRestorable(booted(), booted({ disks: disks.slice(0, 3) }))).toMatch(/other disks/);
    const { net: _net, ...noNet } = booted().spec;
    expect(whyNotRestorable(booted(), { binary: '/usr/bin/qemu-system-x86_64', spec: noNet })).toMatch(/other devices/);
  });
});

describe('templates on disk', () => {
  let root: string | undefined;
  afterEach(() => root && rmSync(root, { recursive: true, force: true }));

  const makeTemplate = (vmsDir: string, over: Partial<WarmInputs>, complete = true, stateCompanions?: string[]): WarmTemplateDir => {
    const full = { ...inputs, ...over };
    const dir = new WarmTemplateDir(join(warmRoot(vmsDir), warmFingerprint(full)));
    mkdirSync(dir.root, { recursive: true });
    for (const file of [dir.rootfs, dir.workDisk, dir.state, ...(stateCompanions ?? []).map((n) => join(dir.root, n))]) writeFileSync(file, Buffer.alloc(8192, 1));
    const meta: WarmTemplateMeta = { format: 1, fingerprint: warmFingerprint(full), inputs: full, bootedWith: booted(), createdAt: new Date().toISOString(), stateBytes: 8192, ...(stateCompanions ? { stateCompanions } : {}) };
    if (complete) writeFileSync(dir.meta, JSON.stringify(meta));
    return dir;
  };

  it('lists an image\'s complete templates with their disk use; prune removes the stale and incomplete ones only', async () => {
    root = mkdtempSync(join(tmpdir(), 'banger-warm-'));
    const vmsDir = join(root, 'vms');
    const runtime = join(root, 'k1.ext4');
    writeFileSync(runtime, '');
    const current = makeTemplate(vmsDir, { runtimeDisk: runtime });
    const otherSize = makeTemplate(vmsDir, { runtimeDisk: runtime, memoryMib: '1024' });
    const replacedImage = makeTemplate(vmsDir, { runtimeDisk: runtime, imageSha256: 'b'.repeat(64) });
    const oldRuntime = makeTemplate(vmsDir, { runtimeDisk: join(root, 'gone.ext4') });
    const incomplete = makeTemplate(vmsDir, { runtimeDisk: runtime, vcpu: '4' }, false);
    expect(readWarmTemplate(incomplete)).toBeUndefined();

    const listed = await warmTemplatesOf(vmsDir, 'debian-minimal');
    expect(listed.map((t) => t.dir).sort()).toEqual([current.root, otherSize.root, replacedImage.root, oldRuntime.root].sort());
    expect(listed.every((t) => t.bytes >= 3 * 8192)).toBe(true);
    expect(await warmTemplatesOf(vmsDir, 'debian-bookworm')).toEqual([]);

    const pruned = await pruneWarmTemplates(vmsDir, (image) => (image === 'debian-minimal' ? 'a'.repeat(64) : undefined));
    expect(pruned.removed).toHaveLength(3);
    expect(pruned.removed).toContain(`unknown image/${basename(incomplete.root)} (incomplete)`);
    expect(pruned.freedBytes).toBeGreaterThan(0);
    expect((await warmTemplatesOf(vmsDir, 'debian-minimal')).map((t) => t.dir).sort()).toEqual([current.root, otherSize.root].sort());
  });

  it('prune and image rm remove a damaged template too (its memory state deleted, or no template.json)', async () => {
    root = mkdtempSync(join(tmpdir(), 'banger-warm-'));
    const vmsDir = join(root, 'vms');
    const noState = makeTemplate(vmsDir, { memoryMib: '1024' });
    rmSync(noState.state);
    const noMeta = makeTemplate(vmsDir, { vcpu: '4' }, false);
    const otherImage = makeTemplate(vmsDir, { image: 'debian-bookworm' });
    rmSync(otherImage.state);

    await removeWarmTemplatesOf(vmsDir, 'debian-minimal');
    expect(existsSync(noState.root), 'the damaged template of the removed image').toBe(false);
    expect(existsSync(noMeta.root), 'unreadable: it names no image').toBe(true);
    expect(existsSync(otherImage.root), "another image's").toBe(true);

    const pruned = await pruneWarmTemplates(vmsDir, () => 'a'.repeat(64));
    expect(pruned.removed.sort()).toEqual([`debian-bookworm/${basename(otherImage.root)} (incomplete)`, `unknown image/${basename(noMeta.root)} (incomplete)`]);
    expect(pruned.freedBytes).toBeGreaterThan(0);
    expect(existsSync(noMeta.root) || existsSync(otherImage.root)).toBe(false);
  });

  it('says why an existing template cannot be used: its state or a disk gone, template.json gone, unreadable or of another format', () => {
    root = mkdtempSync(join(tmpdir(), 'banger-warm-'));
    const vmsDir = join(root, 'vms');
    const fine = makeTemplate(vmsDir, {});
    expect(whyWarmTemplateDamaged(fine)).toBeUndefined();
    expect(whyWarmTemplateDamaged(new WarmTemplateDir(join(warmRoot(vmsDir), 'never-built')))).toBeUndefined();
    const noState = makeTemplate(vmsDir, { vcpu: '2' });
    rmSync(noState.state);
    expect(whyWarmTemplateDamaged(noState)).toBe('its saved memory and device state is missing');
    const noDisk = makeTemplate(vmsDir, { vcpu: '3' });
    rmSync(noDisk.workDisk);
    expect(whyWarmTemplateDamaged(noDisk)).toBe('a disk of it is missing');
    expect(whyWarmTemplateDamaged(makeTemplate(vmsDir, { vcpu: '4' }, false))).toBe('its template.json is missing');
    const garbled = makeTemplate(vmsDir, { vcpu: '5' });
    writeFileSync(garbled.meta, '{"format": 1,');
    expect(whyWarmTemplateDamaged(garbled)).toBe('its template.json is unreadable');
    const newer = makeTemplate(vmsDir, { vcpu: '6' });
    writeFileSync(newer.meta, JSON.stringify({ format: 2 }));
    expect(whyWarmTemplateDamaged(newer)).toBe('it was written by another banger version (template format 2, this one reads 1)');
  });

  it('treats a Firecracker template whose guest memory file is gone as damaged, never as usable', () => {
    root = mkdtempSync(join(tmpdir(), 'banger-warm-'));
    const vmsDir = join(root, 'vms');
    const firecracker = { hypervisor: '/usr/bin/firecracker', hypervisorVersion: '1.16.1', accel: 'kvm' };
    const whole = makeTemplate(vmsDir, firecracker, true, ['template.state.mem']);
    expect(readWarmTemplate(whole)?.stateCompanions).toEqual(['template.state.mem']);
    expect(whyWarmTemplateDamaged(whole)).toBeUndefined();
    rmSync(join(whole.root, 'template.state.mem'));
    expect(readWarmTemplate(whole)).toBeUndefined();
    expect(whyWarmTemplateDamaged(whole)).toBe('its saved state file template.state.mem is missing');
  });
});
