import type { ParsedKey } from 'ssh2';

/** The authorized_keys/known_hosts form of a parsed key: `<type> <base64> [comment]`. */
export function publicKeyLine(key: ParsedKey, comment?: string): string {
  const blob = key.getPublicSSH().toString('base64');
  return comment ? `${key.type} ${blob} ${comment}` : `${key.type} ${blob}`;
}

/** A public key line split into its parts; undefined when it is not one. */
export interface PublicKeyParts {
  type: string;
  /** The key blob, exactly as sent on the wire during the SSH handshake. */
  blob: Buffer;
  comment?: string;
}

/** Parses `ssh-ed25519 AAAA… comment` (the comment is optional). */
export function parsePublicKeyLine(line: string): PublicKeyParts | undefined {
  const [type, base64, ...rest] = line.trim().split(/\s+/);
  if (!type || !base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, 'base64');
  // The blob starts with its own type string; a mismatch means a corrupt or mislabelled key.
  if (blob.length < 4) return undefined;
  const typeLength = blob.readUInt32BE(0);
  if (blob.subarray(4, 4 + typeLength).toString('latin1') !== type) return undefined;
  const comment = rest.join(' ');
  return comment ? { type, blob, comment } : { type, blob };
}
