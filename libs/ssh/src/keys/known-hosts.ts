import { readFile } from 'node:fs/promises';
import { UserError } from '@banger/errors';
import { serialized, writeFileAtomic } from '@banger/host';
import { parsePublicKeyLine } from './public-key.js';

/** One VM's pinned host key: every name it is reached by, and its public key line. */
export interface PinnedHostKey {
  /** e.g. `['sandbox.vm', '172.16.0.5']`. */
  names: string[];
  /** `ssh-ed25519 AAAA…` (a trailing comment is dropped). */
  publicKey: string;
}

/**
 * Pins `publicKey` for `names` in banger's known_hosts file (created 0600 when
 * missing), replacing any line that names one of them: a name belongs to one
 * key at a time, e.g. when a guest IP is reused by a new VM. The file is
 * rewritten atomically and never hashed, so `banger` and the user can read it.
 */
export async function pinHostKey(file: string, entry: PinnedHostKey): Promise<void> {
  const names = entry.names.map(normaliseName);
  const key = parsePublicKeyLine(entry.publicKey);
  if (names.length === 0 || names.some((n) => !n || /[\s,#]/.test(n))) {
    throw new UserError('KNOWN_HOSTS_BAD_NAME', `known_hosts ${file}: invalid host names ${JSON.stringify(entry.names)}`);
  }
  if (!key) throw new UserError('KNOWN_HOSTS_BAD_KEY', `known_hosts ${file}: not a public key line for ${names[0]}`);
  const line = `${names.join(',')} ${key.type} ${key.blob.toString('base64')}`;
  return serialized(file, async () => {
    const kept = (await readLines(file)).filter((l) => !lineNames(l).some((n) => names.includes(n)));
    await writeFileAtomic(file, [...kept, line].join('\n') + '\n', 0o600);
  });
}

/**
 * Removes every pinned line that lists `name` (any of its names: the VM's
 * `<vm>.vm` and its IP go together), e.g. when the VM is deleted.
 * Unknown names and a missing file are not errors.
 */
export async function unpinHostKey(file: string, name: string | string[]): Promise<void> {
  const names = (Array.isArray(name) ? name : [name]).map(normaliseName);
  return serialized(file, async () => {
    const lines = await readLines(file);
    const kept = lines.filter((l) => !lineNames(l).some((n) => names.includes(n)));
    if (kept.length !== lines.length) await writeFileAtomic(file, kept.length ? kept.join('\n') + '\n' : '', 0o600);
  });
}

/** The public key pinned for `name`, as `<type> <base64>`; undefined when none is. */
export async function pinnedHostKey(file: string, name: string): Promise<string | undefined> {
  const wanted = normaliseName(name);
  const line = (await readLines(file)).find((l) => lineNames(l).includes(wanted));
  return line?.split(/\s+/).slice(1, 3).join(' ');
}

async function readLines(file: string): Promise<string[]> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function lineNames(line: string): string[] {
  if (line.startsWith('#')) return [];
  return (line.trim().split(/\s+/)[0] ?? '').split(',').map(normaliseName);
}

// OpenSSH compares host names case-insensitively.
const normaliseName = (name: string): string => name.trim().toLowerCase();
