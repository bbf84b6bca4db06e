import { UserError } from '@banger/errors';

/** The host banger talks to for Docker Hub (what `docker.io` means on the wire). */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** A parsed image reference, normalised the way `docker pull` understands it. */
export interface ImageReference {
  /** Host (and `:port`) the distribution API is spoken to, e.g. `registry-1.docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/debian`. */
  repository: string;
  /** Tag, `latest` when neither a tag nor a digest was given; undefined for a digest-only reference. */
  tag?: string;
  /** `sha256:<64 hex>` when the reference pins a digest (it then wins over the tag). */
  digest?: string;
  /** The text the user typed. */
  original: string;
}

// The grammar of github.com/distribution/reference, minus the parts OCI never uses.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function invalid(text: string, why: string): UserError {
  return new UserError('OCI_REFERENCE_INVALID', `invalid image reference "${text}": ${why}`, {
    hint: 'use [registry[:port]/]repository[:tag][@sha256:<digest>], e.g. docker.io/library/debian:bookworm',
  });
}

/**
 * Parses `registry[:port]/repo[:tag][@sha256:…]`. A first component without a
 * `.` or `:` (and not `localhost`) is a Docker Hub repository, so `debian`
 * becomes `registry-1.docker.io/library/debian:latest`. Throws a UserError
 * naming the reference and the bad part.
 */
export function parseReference(text: string): ImageReference {
  const input = text.trim();
  if (!input) throw invalid(text, 'it is empty');
  if (/\s/.test(input)) throw invalid(text, 'it contains whitespace');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(text, `digest "${digest}" is not sha256:<64 lowercase hex>`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(text, `tag "${tag}" may only hold letters, digits, '_', '.', '-' (max 128, not starting with '.' or '-')`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB_REGISTRY;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    if (!HOST.test(first)) throw invalid(text, `registry host "${first}" is not a valid host[:port]`);
    const port = first.match(/:(\d+)$/)?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw invalid(text, `port ${port} is out of range`);
    registry = DOCKER_HUB_ALIASES.has(first.toLowerCase()) ? DOCKER_HUB_REGISTRY : first.toLowerCase();
    parts.shift();
  }
  if (parts.length === 0 || parts.some((p) => p === '')) throw invalid(text, 'the repository path is empty or has an empty component');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      throw invalid(text, `repository component "${part}" must be lowercase letters and digits separated by '.', '_', '__' or '-'`);
    }
  }
  if (registry === DOCKER_HUB_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw invalid(text, 'the repository name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';

  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), original: text };
}

/** The reference spelled in full, with Docker Hub shown as `docker.io`: `docker.io/library/debian:bookworm`. */
export function formatReference(ref: ImageReference): string {
  const host = ref.registry === DOCKER_HUB_REGISTRY ? 'docker.io' : ref.registry;
  return `${host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** What the manifest endpoint is asked for: the digest when pinned, else the tag. */
export function manifestSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

/**
 * The banger image name an OCI pull registers when no `--name` is given: the
 * last repository component plus the tag (`debian:bookworm` → `debian-bookworm`,
 * `127.0.0.1:5000/team/tools:latest` → `tools`), or the first 12 hex of a
 * pinned digest. Lowercase letters, digits and '-', at most 63 characters,
 * so it is also a valid DNS label like VM names.
 */
export function imageNameForReference(ref: ImageReference | string): string {
  const parsed = typeof ref === 'string' ? parseReference(ref) : ref;
  const base = parsed.repository.split('/').at(-1) ?? 'image';
  const suffix = parsed.digest ? parsed.digest.slice('sha256:'.length, 'sha256:'.length + 12) : parsed.tag === 'latest' ? '' : (parsed.tag ?? '');
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  const name = [slug(base), slug(suffix)].filter(Boolean).join('-') || 'image';
  return name.slice(0, 63).replace(/-+$/, '');
}
