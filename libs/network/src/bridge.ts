import { ConflictError } from '@banger/errors';
import { runPrivileged, serialized } from '@banger/host';
import { runIpBatch } from './ip-batch.js';
import { getLink, getLinkWithAddresses, isUp, type IpLinkWithAddresses } from './ip-link.js';
import { parseSubnet } from './subnet.js';

/** What an ensure step did, so the task graph can report "skipped (already there)". */
export interface EnsureResult {
  changed: boolean;
}

/** Attempts at making the bridge right before its error stands (see ensureBridgeNow). */
const BRIDGE_ATTEMPTS = 3;

/**
 * Makes sure the bridge `name` exists, holds the subnet's first address
 * (gateway/prefix) and is up. Creates what is missing, leaves what is right,
 * and refuses to touch a non-bridge link of that name. Calls for one bridge
 * run one at a time (concurrent VM creations share it).
 */
export function ensureBridge(options: { name: string; subnet: string }): Promise<EnsureResult> {
  return serialized(`bridge:${options.name}`, () => ensureBridgeNow(options));
}

/**
 * One read (`ip addr show` gives the kind, the flags and the addresses), and
 * when something is missing one `ip -batch` with just the missing changes.
 * Another process (a second user's daemon on the same bridge_name) may add the
 * bridge or its address between the read and the batch: ip then fails with
 * "File exists", and the next attempt reads again and does what is still
 * missing. Each attempt leaves less to do, so three cover both collisions.
 */
async function ensureBridgeNow(options: { name: string; subnet: string }): Promise<EnsureResult> {
  const subnet = parseSubnet(options.subnet);
  const address = `${subnet.gateway}/${subnet.prefix}`;
  for (let attempt = 1; ; attempt++) {
    const state = await getLinkWithAddresses(options.name);
    if (state && state.link.linkinfo?.info_kind !== 'bridge') {
      throw new ConflictError('NETWORK_NOT_A_BRIDGE', `bridge_name = ${options.name}: a ${state.link.linkinfo?.info_kind ?? 'network'} device of that name exists and is not a bridge`, {
        hint: 'set bridge_name to an unused name',
      });
    }
    const changes = bridgeChanges(options.name, address, state);
    if (changes.length === 0) return { changed: attempt > 1 };
    try {
      await runIpBatch(changes);
      return { changed: true };
    } catch (error) {
      if (attempt >= BRIDGE_ATTEMPTS) throw error;
    }
  }
}

/** The `ip` commands that make the bridge (in `state`, undefined: missing) what ensureBridge promises. */
function bridgeChanges(name: string, address: string, state: IpLinkWithAddresses | undefined): string[][] {
  const changes: string[][] = [];
  if (!state) changes.push(['link', 'add', 'name', name, 'type', 'bridge']);
  if (!state?.addresses.includes(address)) changes.push(['addr', 'add', address, 'dev', name]);
  if (!state || !isUp(state.link)) changes.push(['link', 'set', 'dev', name, 'up']);
  return changes;
}

/** Deletes the bridge (uninstall); a no-op when it does not exist. */
export async function removeBridge(name: string): Promise<EnsureResult> {
  if (!(await getLink(name))) return { changed: false };
  await runPrivileged('ip', ['link', 'del', 'dev', name]);
  return { changed: true };
}
