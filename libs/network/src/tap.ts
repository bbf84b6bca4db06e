import { ConflictError } from '@banger/errors';
import { runPrivileged } from '@banger/host';
import type { EnsureResult } from './bridge.js';
import { getLink, isUp, listLinks, tapOwnerUid } from './ip-link.js';
import { TAP_PREFIX, tapAliasFor, tapOwnerOf } from './names.js';

/**
 * Makes sure tap `name` exists, is owned by `ownerUid` (so the hypervisor
 * running as the daemon's user can open it without root), is attached to
 * `bridge` and is up. A tap with the wrong owner is recreated; a non-tap link
 * of that name is refused. With `ownerKey` (tapOwnerKey of the banger home),
 * the tap's alias is set to `banger:<ownerKey>`, so leak clean-up of another
 * home on the same host leaves it alone.
 */
export async function ensureTap(options: { name: string; bridge: string; ownerUid: number; ownerKey?: string }): Promise<EnsureResult> {
  const { name, bridge, ownerUid, ownerKey } = options;
  let changed = false;
  let link = await getLink(name);
  if (link && !(link.linkinfo?.info_kind === 'tun' && link.linkinfo.info_data?.type === 'tap')) {
    throw new ConflictError('NETWORK_NOT_A_TAP', `tap ${name}: a ${link.linkinfo?.info_kind ?? 'network'} device of that name exists and is not a tap`, {
      hint: `remove it with: sudo ip link del ${name}`,
    });
  }
  if (link && tapOwnerUid(link) !== ownerUid) {
    // The owner is fixed at creation; only a recreate changes it.
    await runPrivileged('ip', ['link', 'del', 'dev', name]);
    link = undefined;
  }
  if (!link) {
    await runPrivileged('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap', 'user', String(ownerUid)]);
    changed = true;
    link = await getLink(name);
  }
  if (link?.master !== bridge) {
    await runPrivileged('ip', ['link', 'set', 'dev', name, 'master', bridge]);
    changed = true;
  }
  if (ownerKey !== undefined && link?.ifalias !== tapAliasFor(ownerKey)) {
    await runPrivileged('ip', ['link', 'set', 'dev', name, 'alias', tapAliasFor(ownerKey)]);
    changed = true;
  }
  if (!link || !isUp(link)) {
    await runPrivileged('ip', ['link', 'set', 'dev', name, 'up']);
    changed = true;
  }
  return { changed };
}

/** Deletes the tap; a no-op when it is already gone. */
export async function removeTap(name: string): Promise<EnsureResult> {
  if (!(await getLink(name))) return { changed: false };
  try {
    await runPrivileged('ip', ['link', 'del', 'dev', name], { allowFailure: false });
  } catch (error) {
    // Someone else (a leaked-tap sweep, another home's doctor) removed it in between: gone is what we wanted.
    if (!(await getLink(name))) return { changed: false };
    throw error;
  }
  return { changed: true };
}

/**
 * Taps banger created (name starts with `bgr-`), for removing leaked ones;
 * `owner` is the owner key from the `banger:<key>` alias (absent: a tap made
 * before owners were recorded, or by hand — no home can claim it).
 */
export async function listTaps(): Promise<Array<{ name: string; bridge?: string; ownerUid?: number; owner?: string }>> {
  const links = await listLinks();
  return links
    .filter((l) => l.ifname.startsWith(TAP_PREFIX) && l.linkinfo?.info_data?.type === 'tap')
    .map((l) => ({
      name: l.ifname,
      ...(l.master ? { bridge: l.master } : {}),
      ...(tapOwnerUid(l) !== undefined ? { ownerUid: tapOwnerUid(l) } : {}),
      ...(tapOwnerOf(l.ifalias) !== undefined ? { owner: tapOwnerOf(l.ifalias) } : {}),
    }));
}
