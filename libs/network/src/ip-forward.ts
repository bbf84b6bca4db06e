import { readFileSync } from 'node:fs';
import { runPrivileged } from '@banger/host';
import type { EnsureResult } from './bridge.js';

const PROC_PATH = '/proc/sys/net/ipv4/ip_forward';

/** Whether IPv4 forwarding is on (per network namespace). */
export function ipForwardEnabled(procPath = PROC_PATH): boolean {
  try {
    return readFileSync(procPath, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

/** Turns on net.ipv4.ip_forward (guests need it to reach the outside through NAT); a no-op when already on. */
export async function enableIpForward(): Promise<EnsureResult> {
  if (ipForwardEnabled()) return { changed: false };
  await runPrivileged('sysctl', ['-w', 'net.ipv4.ip_forward=1']);
  return { changed: true };
}
