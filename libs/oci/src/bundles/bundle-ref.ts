import { UserError } from '@banger/errors';
import { formatReference, parseReference, type ImageReference } from '../reference.js';

/** The scheme that marks a registry reference where a directory or URL could also stand (`--publish`, catalog `oci`). */
export const OCI_SCHEME = 'oci://';

/** True when `text` names a registry (`oci://…`) rather than a directory or URL. */
export const isOciRef = (text: string): boolean => text.startsWith(OCI_SCHEME);

/**
 * Parses `oci://registry[:port]/repository[:tag][@sha256:…]`. The registry
 * host is required (no Docker Hub shorthand: a bundle is never a library
 * image). Throws a UserError naming the reference.
 */
export function parseBundleRef(text: string): ImageReference {
  if (!isOciRef(text)) {
    throw new UserError('OCI_REFERENCE_INVALID', `invalid bundle reference "${text}": it must start with ${OCI_SCHEME}`, {
      hint: 'use oci://<registry>[:port]/<repository>[:tag][@sha256:<digest>], e.g. oci://127.0.0.1:5000/banger/debian-dev:1',
    });
  }
  const rest = text.slice(OCI_SCHEME.length);
  const first = rest.split('/')[0] ?? '';
  if (!rest.includes('/') || !(first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    throw new UserError('OCI_REFERENCE_INVALID', `invalid bundle reference "${text}": it names no registry host`, {
      hint: 'spell the registry out: oci://<registry>[:port]/<repository>[:tag]',
    });
  }
  return { ...parseReference(rest), original: text };
}

/** The reference spelled as `oci://…` again (normalised). */
export const formatBundleRef = (ref: ImageReference): string => `${OCI_SCHEME}${formatReference(ref)}`;

/** Whether the reference names a tag itself (`…/repo:tag`), rather than getting the default. */
export function hasExplicitTag(text: string): boolean {
  const path = text.replace(/^oci:\/\//, '').replace(/@.*$/, '');
  const last = path.slice(path.indexOf('/') + 1).split('/').at(-1) ?? '';
  return last.includes(':');
}

/** A bundle version as a valid tag (what a reference without a tag is pushed as): [A-Za-z0-9_.-], at most 128, not starting with '.' or '-'. */
export function versionTag(version: string): string {
  return version.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[.-]/, '_').slice(0, 128);
}
