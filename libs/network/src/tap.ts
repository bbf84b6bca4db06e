import { ConflictError, HostCommandError } from '@banger/errors';
import { runPrivileged } from '@banger/host';
import type { EnsureResult } from './bridge.js';
import { runIpBatch } from './ip-batch.js';
import { getLink, isUp, listLinks, tapOwnerUid, type IpLink } from './ip-link.js';
import { TAP_PREFIX, tapAliasFor, tapOwnerOf } from './names.js';

/**
 * Makes sure tap `name` exists, is owned by `ownerUid` (so the hypervisor
 * running as the daemon's user can open it without root), is attached to
 * `bridge` and is up. A tap with the wrong owner is recreated; a non-tap link
 * of that name is refused. With `ownerKey` (tapOwnerKey of the banger home),
 * the tap's alias is set to `banger:<ownerKey>`, so leak clean-up of another
 * home on the same host leaves it alone.
 *
 * The changes go in one privileged `ip -batch` (one process, not one per
 * change). With `likelyNew` (a new VM's tap, or one a host reboot took) the
 * tap is created at once, without reading it first: `ip tuntap add` creates
 * exclusively (it fails on any existing link of that name), so a batch that
 * succeeds made the tap with everything above, and is not read back. When it
 * fails, the link is read and repaired as without `likelyNew`.
 */
export async function ensureTap(options: { name: string; bridge: string; ownerUid: number; ownerKey?: string; likelyNew?: boolean }): Promise<EnsureResult> {
  const wanted = { ...options, alias: options.ownerKey === undefined ? undefined : tapAliasFor(options.ownerKey) };
  let link: IpLink | undefined;
  if (options.likelyNew) {
    try {
      await runIpBatch(tapChanges(wanted, undefined));
      return { changed: true };
    } catch (error) {
      // The name was taken (a tap left by a crash, a link that is no tap), or the batch failed after
      // creating the tap (the bridge vanished): the read tells which. Nothing there: a real failure.
      if (!(error instanceof HostCommandError)) throw error;
      link = await getLink(options.name);
      if (!link) throw error;
    }
  } else {
    link = await getLink(options.name);
  }
  if (link && !(link.linkinfo?.info_kind === 'tun' && link.linkinfo.info_data?.type === 'tap')) {
    throw new ConflictError('NETWORK_NOT_A_TAP', `tap ${options.name}: a ${link.linkinfo?.info_kind ?? 'network'} device of that name exists and is not a tap`, {
      hint: `remove it with: sudo ip link del ${options.name}`,
    });
  }
  const changes = tapChanges(wanted, link);
  if (changes.length === 0) return { changed: false };
  await runIpBatch(changes);
  return { changed: true };
}

/** The `ip` commands that make the tap (`link`, undefined: missing) what ensureTap promises. */
function tapChanges(wanted: { name: string; bridge: string; ownerUid: number; alias: string | undefined }, link: IpLink | undefined): string[][] {
  const { name, bridge, ownerUid, alias } = wanted;
  const changes: string[][] = [];
  let current = link;
  if (current && tapOwnerUid(current) !== ownerUid) {
    // The owner is fixed at creation; only a recreate changes it.
    changes.push(['link', 'del', 'dev', name]);
    current = undefined;
  }
  if (!current) changes.push(['tuntap', 'add', 'dev', name, 'mode', 'tap', 'user', String(ownerUid)]);
  // One `link set` for the three: one netlink request, not three ip runs.
  const set: string[] = [];
  if (current?.master !== bridge) set.push('master', bridge);
  if (alias !== undefined && current?.ifalias !== alias) set.push('alias', alias);
  if (!current || !isUp(current)) set.push('up');
  if (set.length > 0) changes.push(['link', 'set', 'dev', name, ...set]);
  return changes;
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
