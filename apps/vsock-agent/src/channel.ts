import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from './serve.js';

/** virtio device ids (the virtio spec), as /sys/bus/virtio/devices/<dev>/device shows them. */
const VIRTIO_CONSOLE = 0x0003; // virtio-serial: QEMU's `banger.agent` port
const VIRTIO_VSOCK = 0x0013; // virtio-vsock: Firecracker's vsock device

/**
 * Which channel the host offers, from the guest's virtio devices: the
 * virtio-serial port when a console device exists, else vsock when a vsock
 * device does. Undefined when neither is there (yet).
 */
export function pickChannel(deviceIds: readonly number[]): 'serial' | 'vsock' | undefined {
  if (deviceIds.includes(VIRTIO_CONSOLE)) return 'serial';
  if (deviceIds.includes(VIRTIO_VSOCK)) return 'vsock';
  return undefined;
}

/**
 * The ids of the guest's virtio devices. They are listed as soon as the
 * kernel enumerates the virtio-mmio bus at boot, before any driver or udev
 * rule runs, so the agent can choose before the port or the vsock module is there.
 */
export function virtioDeviceIds(sysfsRoot = '/sys'): number[] {
  const dir = join(sysfsRoot, 'bus', 'virtio', 'devices');
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const ids: number[] = [];
  for (const entry of entries) {
    try {
      ids.push(Number.parseInt(readFileSync(join(dir, entry, 'device'), 'utf8').trim(), 16));
    } catch {
      // A device that went away meanwhile.
    }
  }
  return ids;
}

/**
 * Waits (checking every second, logging once) until the guest shows a
 * channel: the serial port itself counts as well as its device (QEMU never
 * has a vsock device, so a QEMU guest always ends up on the serial port).
 */
export async function waitForChannel(log: Log, options: { serialPort: string; sysfsRoot?: string }): Promise<'serial' | 'vsock'> {
  const sysfsRoot = options.sysfsRoot ?? '/sys';
  let logged = false;
  for (;;) {
    const channel = existsSync(options.serialPort) ? 'serial' : pickChannel(virtioDeviceIds(sysfsRoot));
    if (channel) return channel;
    if (!logged) log(`no virtio-serial or virtio-vsock device in ${sysfsRoot}/bus/virtio/devices yet; waiting`);
    logged = true;
    await sleep(1_000);
  }
}
