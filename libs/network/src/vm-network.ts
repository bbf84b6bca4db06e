import { ensureBridge } from './bridge.js';
import { enableIpForward } from './ip-forward.js';
import { ensureNat } from './nat.js';
import { ensureTap } from './tap.js';

/**
 * A new VM's host side of the network: the bridge with the gateway address,
 * IPv4 forwarding, the NAT table, and the VM's tap on the bridge, owned by
 * `ownerUid` and aliased with `ownerKey`. Every part is ensure-style.
 *
 * Two independent chains run side by side: bridge → tap (the tap's master
 * must exist) and forwarding → NAT. In steady state (bridge and NAT already
 * there) that is three processes: the bridge's read, the NAT table's listing
 * and the tap's one `ip -batch`. The tap is created at once (`likelyNew`):
 * for a new VM, or after a host reboot, it is missing; where it is not (a
 * step interrupted after the tap was made), the failed create costs one
 * process before the read-and-repair path.
 */
export async function ensureVmNetwork(options: { bridge: string; subnet: string; tap: string; ownerUid: number; ownerKey: string }): Promise<void> {
  const { bridge, subnet, tap, ownerUid, ownerKey } = options;
  const results = await Promise.allSettled([
    ensureBridge({ name: bridge, subnet }).then(() => ensureTap({ name: tap, bridge, ownerUid, ownerKey, likelyNew: true })),
    enableIpForward().then(() => ensureNat({ subnet })),
  ]);
  // Both chains have ended before a failure is reported: no host change lands after the step failed.
  for (const result of results) if (result.status === 'rejected') throw result.reason;
}
