import { readFile } from 'node:fs/promises';
import { UserError } from '@banger/errors';

export interface GuestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Parses /etc/passwd-format text. */
export function parsePasswd(text: string): GuestUser[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! }));
}

/** A user by name or numeric uid, from the guest's /etc/passwd. A uid with no entry is allowed (gid = uid, home /). */
export async function lookupUser(user: string, passwd = '/etc/passwd'): Promise<GuestUser> {
  const users = parsePasswd(await readFile(passwd, 'utf8').catch(() => ''));
  const numeric = /^\d+$/.test(user) ? Number(user) : undefined;
  const found = users.find((u) => (numeric === undefined ? u.name === user : u.uid === numeric));
  if (found) return found;
  if (numeric !== undefined) return { name: user, uid: numeric, gid: numeric, home: '/', shell: '/bin/sh' };
  throw new UserError('AGENT_UNKNOWN_USER', `guest: no user "${user}" in ${passwd}`);
}

/** A group by name or numeric gid, from the guest's /etc/group. */
export async function lookupGroup(group: string, file = '/etc/group'): Promise<number> {
  if (/^\d+$/.test(group)) return Number(group);
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f.length >= 3) return Number(f[2]);
  }
  throw new UserError('AGENT_UNKNOWN_USER', `guest: no group "${group}" in ${file}`);
}
