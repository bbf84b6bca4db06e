import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { ipToInt } from './subnet.js';

/** Prefix of every tap banger creates; listTaps() and leak cleanup rely on it. */
export const TAP_PREFIX = 'bgr-';

/** Prefix of the link alias (`ip link set dev <tap> alias banger:<key>`) that says which banger home owns a tap. */
export const TAP_ALIAS_PREFIX = 'banger:';

/**
 * The owner key of a banger home: 12 hex chars of sha256 of its absolute VMs
 * directory (`<state dir>/vms`). Every home on a host (two users, a test beside
 * a user's daemon) has its own VMs directory, so its own key; tap names alone
 * (`bgr-…`) cannot tell homes apart.
 */
export function tapOwnerKey(vmsDir: string): string {
  return createHash('sha256').update(resolve(vmsDir)).digest('hex').slice(0, 12);
}

/** The alias a tap of the home with `ownerKey` carries. */
export const tapAliasFor = (ownerKey: string): string => TAP_ALIAS_PREFIX + ownerKey;

/** The owner key in a link alias, or undefined when the alias is not banger's. */
export function tapOwnerOf(alias: string | undefined): string | undefined {
  return alias?.startsWith(TAP_ALIAS_PREFIX) ? alias.slice(TAP_ALIAS_PREFIX.length) || undefined : undefined;
}

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
