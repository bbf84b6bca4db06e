import { ConflictError } from '@banger/errors';
import { runPrivileged, serialized } from '@banger/host';
import { getLink, isUp, linkAddresses } from './ip-link.js';
import { parseSubnet } from './subnet.js';

/** What an ensure step did, so the task graph can report "skipped (already there)". */
export interface EnsureResult {
  changed: boolean;
}

/**
 * Makes sure the bridge `name` exists, holds the subnet's first address
 * (gateway/prefix) and is up. Creates what is missing, leaves what is right,
 * and refuses to touch a non-bridge link of that name. Calls for one bridge
 * run one at a time (concurrent VM creations share it).
 */
export function ensureBridge(options: { name: string; subnet: string }): Promise<EnsureResult> {
  return serialized(`bridge:${options.name}`, () => ensureBridgeNow(options));
}

async function ensureBridgeNow(options: { name: string; subnet: string }): Promise<EnsureResult> {
  const subnet = parseSubnet(options.subnet);
  const address = `${subnet.gateway}/${subnet.prefix}`;
  let changed = false;
  let link = await getLink(options.name);
  if (link && link.linkinfo?.info_kind !== 'bridge') {
    throw new ConflictError('NETWORK_NOT_A_BRIDGE', `bridge_name = ${options.name}: a ${link.linkinfo?.info_kind ?? 'network'} device of that name exists and is not a bridge`, {
      hint: 'set bridge_name to an unused name',
    });
  }
  if (!link) {
    // Another process (a second user's daemon on the same bridge_name) may add it first: "File exists" is then fine.
    const added = await runPrivileged('ip', ['link', 'add', 'name', options.name, 'type', 'bridge'], { allowFailure: true });
    link = await getLink(options.name);
    if (added.exitCode !== 0 && link?.linkinfo?.info_kind !== 'bridge') {
      await runPrivileged('ip', ['link', 'add', 'name', options.name, 'type', 'bridge']);
    }
    changed = true;
  }
  const addresses = await linkAddresses(options.name);
  if (!addresses.includes(address)) {
    const added = await runPrivileged('ip', ['addr', 'add', address, 'dev', options.name], { allowFailure: true });
    if (added.exitCode !== 0 && !(await linkAddresses(options.name)).includes(address)) {
      await runPrivileged('ip', ['addr', 'add', address, 'dev', options.name]);
    }
    changed = true;
  }
  if (!link || !isUp(link)) {
    await runPrivileged('ip', ['link', 'set', 'dev', options.name, 'up']);
    changed = true;
  }
  return { changed };
}

/** Deletes the bridge (uninstall); a no-op when it does not exist. */
export async function removeBridge(name: string): Promise<EnsureResult> {
  if (!(await getLink(name))) return { changed: false };
  await runPrivileged('ip', ['link', 'del', 'dev', name]);
  return { changed: true };
}
