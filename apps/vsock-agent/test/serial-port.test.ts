import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSerialPort } from '../src/serial.js';

/**
 * Early in boot udev has not made /dev/virtio-ports/<name> yet (its coldplug
 * takes seconds under TCG); the agent finds the kernel's node by the port's
 * name in sysfs instead (issue 19: nothing on the way to ready waits for udev).
 */
describe('resolveSerialPort', () => {
  const sysfs = mkdtempSync(join(tmpdir(), 'banger-sysfs-'));
  afterAll(() => rmSync(sysfs, { recursive: true, force: true }));
  const port = (node: string, name: string) => {
    mkdirSync(join(sysfs, 'class/virtio-ports', node), { recursive: true });
    writeFileSync(join(sysfs, 'class/virtio-ports', node, 'name'), `${name}\n`);
  };

  it('finds the kernel node of a named port through sysfs', async () => {
    port('vport1p1', 'org.qemu.guest_agent.0');
    port('vport5p1', 'banger.agent');
    expect(await resolveSerialPort('/dev/virtio-ports/banger.agent', sysfs)).toBe('/dev/vport5p1');
  });

  it('keeps the path when no port has that name, or when it is not a virtio-ports path', async () => {
    expect(await resolveSerialPort('/dev/virtio-ports/other', sysfs)).toBe('/dev/virtio-ports/other');
    expect(await resolveSerialPort('/tmp/some/pty', sysfs)).toBe('/tmp/some/pty');
    expect(await resolveSerialPort('/dev/virtio-ports/banger.agent', join(sysfs, 'missing'))).toBe('/dev/virtio-ports/banger.agent');
  });
});
