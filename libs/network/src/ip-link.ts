import { readFileSync } from 'node:fs';
import { run } from '@banger/host';

/** The subset of `ip -json -details link show` that banger reads. */
export interface IpLink {
  ifname: string;
  operstate?: string;
  flags?: string[];
  master?: string;
  address?: string;
  /** The link's alias (`ip link set dev X alias …`); banger's taps carry `banger:<owner key>`. */
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string; user?: number | string; group?: number | string } };
}

/** One link by name, or undefined when it does not exist. Reading needs no privilege. */
export async function getLink(name: string): Promise<IpLink | undefined> {
  const result = await run('ip', ['-json', '-details', 'link', 'show', 'dev', name], { allowFailure: true });
  if (result.exitCode !== 0) return undefined;
  return (JSON.parse(result.stdout) as IpLink[])[0];
}

/** A link with its IPv4 addresses (`a.b.c.d/len`). */
export interface IpLinkWithAddresses {
  link: IpLink;
  addresses: string[];
}

/**
 * One link and its IPv4 addresses from a single `ip -json -details addr show`
 * (it prints the link's details too), or undefined when the link does not
 * exist: one process where getLink + linkAddresses take two.
 */
export async function getLinkWithAddresses(name: string): Promise<IpLinkWithAddresses | undefined> {
  const result = await run('ip', ['-json', '-details', 'addr', 'show', 'dev', name], { allowFailure: true });
  if (result.exitCode !== 0) return undefined;
  const entry = (JSON.parse(result.stdout) as Array<IpLink & { addr_info?: Array<{ family?: string; local: string; prefixlen: number }> }>)[0];
  if (!entry) return undefined;
  const { addr_info: addrInfo, ...link } = entry;
  return { link, addresses: (addrInfo ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`) };
}

/** All links. */
export async function listLinks(): Promise<IpLink[]> {
  const result = await run('ip', ['-json', '-details', 'link', 'show']);
  return JSON.parse(result.stdout) as IpLink[];
}

/** IPv4 addresses (`a.b.c.d/len`) on a link. */
export async function linkAddresses(name: string): Promise<string[]> {
  const result = await run('ip', ['-json', '-4', 'addr', 'show', 'dev', name], { allowFailure: true });
  if (result.exitCode !== 0) return [];
  const parsed = JSON.parse(result.stdout) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>;
  return (parsed[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

export const isUp = (link: IpLink): boolean => (link.flags ?? []).includes('UP');

/**
 * The uid that owns a tun/tap device. `ip -details` prints the user *name*
 * when it resolves, so prefer sysfs's numeric `owner` and fall back to
 * /etc/passwd for the name.
 */
export function tapOwnerUid(link: IpLink): number | undefined {
  try {
    const owner = Number(readFileSync(`/sys/class/net/${link.ifname}/owner`, 'utf8').trim());
    if (Number.isInteger(owner) && owner >= 0) return owner;
  } catch {
    // sysfs of another netns or not mounted: use the ip output
  }
  const user = link.linkinfo?.info_data?.user;
  if (typeof user === 'number') return user;
  if (typeof user === 'string' && /^\d+$/.test(user)) return Number(user);
  if (typeof user === 'string') {
    try {
      const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
      const uid = Number(line?.split(':')[2]);
      return Number.isInteger(uid) ? uid : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
