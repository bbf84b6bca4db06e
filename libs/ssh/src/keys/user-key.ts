import { readFile } from 'node:fs/promises';
import type { ParsedKey } from 'ssh2';
import { UserError } from '@banger/errors';
import { writeFileAtomic, writeFileExclusive } from '@banger/host';
import { parsePublicKeyLine, publicKeyLine } from './public-key.js';
import { generateEd25519 } from './generate-ed25519.js';
import { ssh2 } from '../load-ssh2.js';

/** The host user's SSH identity banger authenticates to guests with. */
export interface UserKey {
  /** Path of the OpenSSH private key file. */
  privateKeyPath: string;
  /** Path of the `.pub` file next to it. */
  publicKeyPath: string;
  /** The private key text (OpenSSH format), ready for ssh2's `privateKey`. */
  privateKey: string;
  /** The public key as an authorized_keys line: `ssh-ed25519 AAAA… comment`. */
  publicKey: string;
}

/**
 * Returns the key at `path`, creating an ed25519 key pair there first when
 * the file does not exist (private key 0600, `<path>.pub` 0644, written
 * atomically). An existing key is used as it is, whatever its type; its
 * `.pub` is recreated from the private key when missing. A key banger cannot
 * use (unreadable, not a private key, passphrase-protected) is a UserError
 * naming the file: banger runs unattended and cannot prompt for a passphrase.
 */
export async function ensureUserKey(path: string, comment = 'banger'): Promise<UserKey> {
  const publicKeyPath = `${path}.pub`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError('SSH_KEY_UNREADABLE', `ssh key ${path}: cannot read it: ${(error as Error).message}`, {
        hint: 'fix its permissions, or point ssh_key_path at another key',
        cause: error,
      });
    }
    const pair = generateEd25519(comment);
    // Several VM creations at once on a new machine all get here: the first key in place wins and
    // the others use it. Overwriting would leave the VMs that authorized a losing key refusing banger.
    if (!(await writeFileExclusive(path, pair.private, 0o600))) return ensureUserKey(path, comment);
    await writeFileAtomic(publicKeyPath, `${pair.public}\n`, 0o644);
    return { privateKeyPath: path, publicKeyPath, privateKey: pair.private, publicKey: pair.public };
  }

  const parsed = parsePrivateKey(text, path);
  const publicKey = publicKeyLine(parsed, comment);
  let existingPub: string | undefined;
  try {
    existingPub = (await readFile(publicKeyPath, 'utf8')).trim();
  } catch {
    existingPub = undefined;
  }
  if (!existingPub) await writeFileAtomic(publicKeyPath, `${publicKey}\n`, 0o644);
  // Keep the .pub's own comment when it is this key's; a stale .pub from another key is ignored (not rewritten).
  const sameKey = existingPub !== undefined && parsePublicKeyLine(existingPub)?.blob.equals(parsed.getPublicSSH()) === true;
  return { privateKeyPath: path, publicKeyPath, privateKey: text, publicKey: sameKey ? (existingPub as string) : publicKey };
}

/** Parses an unencrypted private key, or explains in one line why banger cannot use it. */
export function parsePrivateKey(text: string, path: string): ParsedKey {
  const parsed = ssh2().utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key instanceof Error || key === undefined) {
    const why = key instanceof Error ? key.message : 'no key found';
    const encrypted = /encrypted|passphrase/i.test(why);
    throw new UserError(
      encrypted ? 'SSH_KEY_ENCRYPTED' : 'SSH_KEY_INVALID',
      encrypted ? `ssh key ${path}: it is protected by a passphrase` : `ssh key ${path}: not a usable private key: ${why}`,
      {
        hint: encrypted
          ? 'banger needs a key without a passphrase: remove ssh_key_path from config.toml to let banger create its own'
          : 'point ssh_key_path at an OpenSSH private key, or remove the setting to let banger create one',
        cause: key instanceof Error ? key : undefined,
      },
    );
  }
  if (key.isPrivateKey && !key.isPrivateKey()) {
    throw new UserError('SSH_KEY_INVALID', `ssh key ${path}: this is a public key, not a private key`, {
      hint: 'ssh_key_path names the private key file (without .pub)',
    });
  }
  return key;
}
