import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { CancelledError, InternalError, NotFoundError, UserError } from '@banger/errors';
import type { RegistryCredentials } from './docker-config.js';
import { MANIFEST_ACCEPT } from './manifest.js';
import { DOCKER_HUB_REGISTRY } from './reference.js';
import { parseWwwAuthenticate, type AuthChallenge } from './www-authenticate.js';

/** Options of a RegistryClient. */
export interface RegistryClientOptions {
  /** Registry host[:port], as in ImageReference.registry. */
  registry: string;
  /** Allow plain `http://` for a non-loopback registry (loopback registries always use http). */
  insecure?: boolean;
  /** Basic credentials, used directly for Basic challenges and to obtain Bearer tokens. */
  credentials?: RegistryCredentials;
  /** Cancels every request of this client. */
  signal?: AbortSignal;
  /** Per-request timeout for headers to arrive (ms). Default 60 s. */
  timeoutMs?: number;
}

/** A fetched manifest with the digest it was verified against. */
export interface FetchedManifest {
  digest: string;
  contentType: string | null;
  body: Buffer;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;

/** True for 127.0.0.0/8, ::1 and localhost: the only hosts spoken to over plain http by default. */
export function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * A small client for the OCI distribution API on Node's global fetch: ping,
 * the Bearer token flow (anonymous or with basic credentials, tokens cached
 * per scope), Basic auth, manifests by tag or digest (verified), and blob
 * streams that follow redirects without leaking the Authorization header to
 * another host. Verification of blob bodies happens in `storeBlob`.
 */
export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly options: RegistryClientOptions;
  private readonly tokens = new Map<string, string>();
  /** The challenge last seen from `/v2/`, reused to get tokens for new scopes without a failed round trip. */
  private challenge: AuthChallenge | undefined;

  constructor(options: RegistryClientOptions) {
    this.options = options;
    this.registry = options.registry;
    const scheme = isLoopbackHost(options.registry) || options.insecure ? 'http' : 'https';
    this.baseUrl = `${scheme}://${options.registry}`;
  }

  /** GET /v2/: checks the registry speaks the API (401 is fine: it tells how to authenticate). */
  async ping(): Promise<void> {
    const res = await this.send(`${this.baseUrl}/v2/`, { method: 'GET' }, undefined, false);
    await res.body?.cancel();
    if (res.status === 401) {
      this.rememberChallenge(res);
      return;
    }
    if (!res.ok) throw this.httpError(res, 'GET /v2/', 'the host does not look like an OCI registry');
  }

  /** HEAD a manifest: its digest, or undefined when the registry does not say (the caller then GETs it). */
  async headManifest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) throw this.notFound(repository, reference);
    // some registries and proxies refuse HEAD (405) or answer it badly: a GET still works
    if (!res.ok) return undefined;
    const digest = res.headers.get('docker-content-digest');
    return digest && /^sha256:[a-f0-9]{64}$/.test(digest) ? digest : undefined;
  }

  /**
   * GET a manifest by tag or digest. The body's sha256 must equal the digest
   * asked for (by digest) or the `Docker-Content-Digest` header (by tag).
   */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const where = `${this.registry}/${repository}:${reference}`;
    const res = await this.request(repository, `/v2/${repository}/manifests/${reference}`, { method: 'GET', headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) throw this.notFound(repository, reference);
    if (!res.ok) throw this.httpError(res, `GET manifest ${where}`);
    const body = await readLimited(res, MAX_MANIFEST_BYTES, where);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const expected = reference.startsWith('sha256:') ? reference : res.headers.get('docker-content-digest');
    if (expected && expected.startsWith('sha256:') && expected !== digest) {
      throw new InternalError('OCI_MANIFEST_DIGEST_MISMATCH', `manifest ${where} failed verification: content hashes to ${digest}, expected ${expected}`, {
        hint: 'the registry or a proxy served corrupted data; retry the pull',
      });
    }
    return { digest, contentType: res.headers.get('content-type'), body };
  }

  /**
   * GET a blob, following redirects (to a CDN, typically). Returns the body
   * as a Node stream; the caller verifies it while consuming (`storeBlob`).
   */
  async openBlob(repository: string, digest: string): Promise<{ stream: Readable; size: number | undefined }> {
    const res = await this.request(repository, `/v2/${repository}/blobs/${digest}`, { method: 'GET' });
    if (res.status === 404) {
      throw new NotFoundError('OCI_BLOB_NOT_FOUND', `blob ${digest} not found in ${this.registry}/${repository}`, {
        hint: 'the image is incomplete on the registry; push it again',
      });
    }
    if (!res.ok || !res.body) throw this.httpError(res, `GET blob ${digest} from ${this.registry}/${repository}`);
    const length = res.headers.get('content-length');
    return { stream: Readable.fromWeb(res.body as unknown as WebReadableStream), size: length === null ? undefined : Number(length) };
  }

  /**
   * The Authorization header value this client would send for pulls from
   * `repository` (a cached token, or Basic), undefined when the registry asked
   * for none. For handing blob URLs to another downloader after a manifest
   * request has gone through the challenge.
   */
  async pullAuthorization(repository: string): Promise<string | undefined> {
    const scope = `repository:${repository}:pull`;
    return this.authorizationFor(scope) ?? (this.challenge ? this.answer(this.challenge, scope) : undefined);
  }

  /**
   * A request with auth: answers a 401 challenge once (token or basic) and
   * retries, so `init.body` must be re-sendable (a Buffer, never a stream).
   * `path` is a `/v2/…` path or an absolute URL (an upload's Location);
   * `actions` is the token scope's (`pull`, or `pull,push` for uploads).
   */
  protected async request(repository: string, path: string, init: RequestInit, actions: 'pull' | 'pull,push' = 'pull'): Promise<Response> {
    const scope = `repository:${repository}:${actions}`;
    const url = /^https?:\/\//.test(path) ? path : `${this.baseUrl}${path}`;
    let auth = this.authorizationFor(scope);
    if (auth === undefined && this.challenge) auth = await this.answer(this.challenge, scope);
    let res = await this.send(url, init, auth, true);
    if (res.status === 401) {
      await res.body?.cancel();
      this.rememberChallenge(res);
      if (!this.challenge) throw this.httpError(res, `${init.method} ${path}`, 'the registry asked for authentication without a usable WWW-Authenticate challenge');
      this.tokens.delete(scope);
      auth = await this.answer(this.challenge, this.challenge.params['scope'] ?? scope);
      res = await this.send(url, init, auth, true);
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw this.authError(repository, res.status);
      }
    }
    if (res.status === 403) {
      await res.body?.cancel();
      throw this.authError(repository, 403);
    }
    return res;
  }

  private rememberChallenge(res: Response): void {
    const header = res.headers.get('www-authenticate');
    const challenges = header ? parseWwwAuthenticate(header) : [];
    this.challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic') ?? this.challenge;
  }

  private authorizationFor(scope: string): string | undefined {
    const token = this.tokens.get(scope);
    return token === undefined ? undefined : `Bearer ${token}`;
  }

  private basic(): string | undefined {
    const c = this.options.credentials;
    return c ? `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` : undefined;
  }

  /** Turns a challenge into an Authorization header value, fetching (and caching) a token for Bearer. */
  private async answer(challenge: AuthChallenge, scope: string): Promise<string | undefined> {
    if (challenge.scheme === 'basic') {
      const basic = this.basic();
      if (!basic) throw this.authError(scope.split(':')[1] ?? '', 401);
      return basic;
    }
    if (challenge.scheme !== 'bearer') {
      throw new UserError('OCI_AUTH_UNSUPPORTED', `registry ${this.registry} asks for "${challenge.scheme}" authentication, which banger does not speak`);
    }
    const cached = this.tokens.get(scope);
    if (cached) return `Bearer ${cached}`;
    const realm = challenge.params['realm'];
    if (!realm) throw new InternalError('OCI_AUTH_INVALID', `registry ${this.registry} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new InternalError('OCI_AUTH_INVALID', `registry ${this.registry} sent a Bearer realm "${realm}" that is not a URL`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isLoopbackHost(url.host) || this.options.insecure))) {
      throw new UserError('OCI_AUTH_INSECURE', `registry ${this.registry} wants tokens from ${realm} over plain http`, {
        hint: 'pass --insecure if you trust this network',
      });
    }
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basic();
    if (basic) headers['authorization'] = basic;
    const res = await this.fetchWithTimeout(url.toString(), { method: 'GET', headers, redirect: 'follow' });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new UserError('OCI_AUTH_FAILED', `token server ${url.host} refused ${basic ? `the credentials for ${this.registry}` : 'anonymous access'} (HTTP ${res.status})`, {
        hint: basic ? 'check the username/password in your Docker config (docker login)' : `log in with docker login ${this.registry}, or check the repository name`,
      });
    }
    if (!res.ok) throw this.httpError(res, `GET token from ${url.host}`);
    const json = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = json.token ?? json.access_token;
    if (!token) throw new InternalError('OCI_AUTH_INVALID', `token server ${url.host} answered without "token" or "access_token"`);
    this.tokens.set(scope, token);
    return `Bearer ${token}`;
  }

  /**
   * One HTTP exchange, following redirects by hand so the Authorization header
   * goes to the registry's own host only, and so an https→http downgrade to a
   * non-loopback host is refused.
   */
  protected async send(url: string, init: RequestInit, authorization: string | undefined, followRedirects: boolean): Promise<Response> {
    let current = new URL(url);
    const origin = current.origin;
    for (let hop = 0; ; hop++) {
      const headers = new Headers(init.headers);
      headers.set('user-agent', 'banger');
      if (authorization && current.origin === origin) headers.set('authorization', authorization);
      const res = await this.fetchWithTimeout(current.toString(), { ...init, headers, redirect: 'manual' });
      if (!followRedirects || res.status < 300 || res.status >= 400 || res.status === 304) return res;
      const location = res.headers.get('location');
      await res.body?.cancel();
      if (!location) throw this.httpError(res, `${init.method} ${current.pathname}`, 'redirect without a Location header');
      if (hop >= MAX_REDIRECTS) throw new InternalError('OCI_TOO_MANY_REDIRECTS', `${init.method} ${url}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, current);
      if (next.protocol === 'http:' && !isLoopbackHost(next.host) && !this.options.insecure) {
        throw new UserError('OCI_INSECURE_REDIRECT', `registry ${this.registry} redirected to plain http (${next.host})`, { hint: 'pass --insecure if you trust this network' });
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new InternalError('OCI_BAD_REDIRECT', `registry ${this.registry} redirected to ${next.protocol} URL`);
      current = next;
    }
  }

  private async fetchWithTimeout(url: string, init: RequestInit): Promise<Response> {
    const outer = this.options.signal;
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    if (outer?.aborted) throw new CancelledError(`pull from ${this.registry}: cancelled`);
    // The timer bounds only the wait for headers: once they arrive, a large
    // layer may stream for as long as it takes (the caller's signal still stops it).
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, timeoutMs);
    const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
    try {
      return await fetch(url, { ...init, signal });
    } catch (error) {
      if (outer?.aborted) throw new CancelledError(`pull from ${this.registry}: cancelled`, { cause: error });
      const host = new URL(url).host;
      const why = timedOut ? `no answer within ${timeoutMs / 1000} s` : describeFetchError(error);
      throw new UserError('OCI_REGISTRY_UNREACHABLE', `cannot reach registry ${host}: ${why}`, {
        hint: isLoopbackHost(host) ? 'is the registry running?' : 'check the registry name and your network',
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  private notFound(repository: string, reference: string): NotFoundError {
    const shown = this.registry === DOCKER_HUB_REGISTRY ? `docker.io/${repository}` : `${this.registry}/${repository}`;
    return new NotFoundError('OCI_MANIFEST_NOT_FOUND', `image ${shown}${reference.startsWith('sha256:') ? '@' : ':'}${reference} not found`, {
      hint: 'check the repository and tag (skopeo list-tags docker://… lists the tags)',
    });
  }

  protected authError(repository: string, status: number): UserError {
    return new UserError('OCI_AUTH_FAILED', `registry ${this.registry} denied access to ${repository} (HTTP ${status})`, {
      hint: this.options.credentials
        ? 'the credentials from your Docker config were refused; run docker login again'
        : `the repository is private or does not exist; log in with docker login ${this.registry}`,
    });
  }

  protected httpError(res: Response, what: string, why?: string): InternalError {
    return new InternalError('OCI_REGISTRY_ERROR', `${what}: HTTP ${res.status} ${res.statusText}${why ? ` (${why})` : ''}`, {
      hint: `registry ${this.registry} answered unexpectedly; retry, or check the registry's status`,
    });
  }
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

async function readLimited(res: Response, limit: number, where: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) {
      throw new InternalError('OCI_MANIFEST_TOO_LARGE', `manifest ${where} is larger than ${limit / 1024 / 1024} MiB`, { hint: 'this is not a normal image manifest' });
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
