import { createHash } from 'node:crypto';
import { ipToInt } from './subnet.js';

/** Prefix of every tap banger creates; listTaps() and leak cleanup rely on it. */
export const TAP_PREFIX = 'bgr-';

/**
 * The tap device name for a VM: `bgr-` + 11 hex chars of sha256(vmId), 15
 * characters (the kernel's IFNAMSIZ limit). Deterministic, so a step that is
 * redone after a crash finds the same tap.
 */
export function tapNameFor(vmId: string): string {
  return TAP_PREFIX + createHash('sha256').update(vmId).digest('hex').slice(0, 15 - TAP_PREFIX.length);
}

/**
 * The guest MAC for an IPv4 address: `06:00:` + the four address bytes. 0x06
 * has the locally-administered bit set and the multicast bit clear, so it never
 * collides with a vendor MAC; deriving it from the IP keeps ARP caches right
 * when an address is leased to a new VM.
 */
export function macForIp(ip: string): string {
  const n = ipToInt(ip);
  const bytes = [0x06, 0x00, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
