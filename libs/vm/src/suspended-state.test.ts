import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { VmSpec } from '@banger/hypervisor';
import { discardSavedState, savedState, whyNotResumable, type BootedWith, type SuspendMeta } from './suspended-state.js';
import { VmDir } from './vm-dir.js';

const spec: VmSpec = {
  id: 'vm_1',
  name: 'box',
  vcpu: 1,
  memoryMib: 512,
  kernel: { vmlinux: '/k/vmlinux', initrd: '/k/initrd' },
  bootArgs: 'console=ttyS0',
  disks: [{ id: 'rootfs', path: '/v/rootfs.ext4', readOnly: false }],
  net: { tap: 'bgr-1', mac: '02:00:00:00:00:01' },
  consoleLogPath: '/v/console.log',
  agentSocketPath: '/v/agent.sock',
  vmDir: '/v',
};
const booted: BootedWith = { binary: '/usr/bin/qemu-system-x86_64', spec };
const meta = (bootedWith: BootedWith | null): SuspendMeta => ({ format: 1, suspendedAt: '2026-12-04T18:00:00Z', bootedWith });

describe('whether a saved state can be resumed', () => {
  it('accepts a state saved under exactly what the VM would start with now', () => {
    expect(whyNotResumable(meta(booted), booted)).toBeUndefined();
  });

  it('refuses one whose memory size, kernel, disks or binary changed, saying which', () => {
    expect(whyNotResumable(meta(booted), { ...booted, spec: { ...spec, memoryMib: 1024 } })).toBe("the VM's memoryMib changed since it was suspended");
    expect(whyNotResumable(meta(booted), { ...booted, spec: { ...spec, kernel: { vmlinux: '/k2/vmlinux', initrd: '/k/initrd' } } })).toBe("the VM's kernel changed since it was suspended");
    expect(whyNotResumable(meta(booted), { ...booted, spec: { ...spec, disks: [...spec.disks, { id: 'runtime', path: '/r.ext4', readOnly: true }] } })).toBe("the VM's disks changed since it was suspended");
    expect(whyNotResumable(meta(booted), { ...booted, binary: '/opt/qemu/bin/qemu-system-x86_64' })).toBe('it was saved by /usr/bin/qemu-system-x86_64, not /opt/qemu/bin/qemu-system-x86_64');
  });

  it('accepts another tap (the driver contract attaches a restored VM to the spec\'s tap) but not another MAC', () => {
    expect(whyNotResumable(meta(booted), { ...booted, spec: { ...spec, net: { tap: 'bgr-2', mac: spec.net!.mac } } })).toBeUndefined();
    expect(whyNotResumable(meta(booted), { ...booted, spec: { ...spec, net: { tap: 'bgr-1', mac: '02:00:00:00:00:02' } } })).toBe("the VM's MAC address changed since it was suspended");
  });

  it('refuses one without a readable description or without what it was started with', () => {
    expect(whyNotResumable(null, booted)).toBe('its description (suspend.json) is missing or unreadable');
    expect(whyNotResumable(meta(null), booted)).toBe('it does not say what the VM was started with');
  });
});

describe('the saved state on disk', () => {
  let root: string | undefined;
  afterEach(() => root && rmSync(root, { recursive: true, force: true }));

  it('is found with its size and description, and discarded whole', () => {
    root = mkdtempSync(join(tmpdir(), 'banger-suspend-'));
    const dir = new VmDir(root, 'box').create();
    expect(savedState(dir)).toBeUndefined();
    writeFileSync(dir.suspendState, Buffer.alloc(3000));
    writeFileSync(dir.suspendMeta, JSON.stringify(meta(booted)));
    expect(savedState(dir)).toEqual({ path: dir.suspendState, bytes: 3000, meta: meta(booted) });
    writeFileSync(dir.suspendMeta, '{ half');
    expect(savedState(dir)?.meta).toBeNull();
    discardSavedState(dir);
    expect(savedState(dir)).toBeUndefined();
  });

  it('counts and discards the memory file Firecracker keeps beside the state', () => {
    root = mkdtempSync(join(tmpdir(), 'banger-suspend-'));
    const dir = new VmDir(root, 'box').create();
    writeFileSync(dir.suspendState, Buffer.alloc(1000));
    writeFileSync(`${dir.suspendState}.mem`, Buffer.alloc(5000));
    expect(savedState(dir)?.bytes).toBe(6000);
    discardSavedState(dir);
    expect(existsSync(`${dir.suspendState}.mem`)).toBe(false);
    // A memory file alone is no saved state.
    writeFileSync(`${dir.suspendState}.mem`, Buffer.alloc(10));
    expect(savedState(dir)).toBeUndefined();
  });
});
