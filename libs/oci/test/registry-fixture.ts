import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Asks the kernel for a free loopback port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real Debian `docker-registry` on 127.0.0.1, storing into `dir`. */
export interface TestRegistry {
  host: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startRegistry(dir: string): Promise<TestRegistry> {
  const port = await freePort();
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log: {level: warn}',
      `storage: {filesystem: {rootdirectory: ${dataDir}}, delete: {enabled: true}, cache: {}}`,
      `http: {addr: 127.0.0.1:${port}}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 100 || child.exitCode !== null) {
      child.kill();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    dataDir,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a blob with the distribution API's monolithic upload (POST, then PUT ?digest=). */
export async function pushBlob(host: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start ${start.status}`);
  const location = new URL(start.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  if (put.status !== 201) throw new Error(`upload ${put.status}: ${await put.text()}`);
  return digest;
}

/** Pushes a manifest or index under a tag (or digest); returns its digest. */
export async function pushManifest(host: string, repo: string, tag: string, manifest: object, mediaType: string): Promise<string> {
  const body = Buffer.from(JSON.stringify(manifest));
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body, headers: { 'content-type': mediaType } });
  if (res.status !== 201) throw new Error(`manifest push ${res.status}: ${await res.text()}`);
  return sha256(body);
}

/** A layer blob plus the uncompressed digest the config lists. */
export interface BuiltLayer {
  bytes: Buffer;
  digest: string;
  diffId: string;
}

/** Pushes layers, a config and an OCI manifest; returns the manifest digest and descriptor. */
export async function pushImage(
  host: string,
  repo: string,
  tag: string,
  layers: readonly BuiltLayer[],
  platform = { os: 'linux', architecture: 'amd64' },
): Promise<{ digest: string; size: number; configDigest: string }> {
  for (const l of layers) await pushBlob(host, repo, l.bytes);
  const config = Buffer.from(
    JSON.stringify({ ...platform, config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }),
  );
  const configDigest = await pushBlob(host, repo, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.bytes.length })),
  };
  const digest = await pushManifest(host, repo, tag, manifest, manifest.mediaType);
  return { digest, size: Buffer.byteLength(JSON.stringify(manifest)), configDigest };
}

/** What a FrontProxy does besides forwarding. */
export interface ProxyBehaviour {
  /** Require Bearer tokens: 401 + challenge, tokens from `/token` for these basic credentials (or anonymous when undefined). */
  auth?: { username?: string; password?: string; tokenField: 'token' | 'access_token' };
  /** Require HTTP Basic credentials directly on /v2/ (no token server). */
  basicAuth?: { username: string; password: string };
  /** Flip a byte in the body of this blob's GET. */
  corruptDigest?: string;
  /** Cut the connection halfway through the body of the first `times` GETs of this blob, then serve it normally. */
  dropBlob?: { digest: string; times: number };
  /** Answer blob GETs with a 307 to this other origin (a "CDN"), which serves them from the registry. */
  redirectBlobsTo?: string;
}

/** A loopback HTTP proxy in front of the real registry that logs requests and misbehaves on demand. */
export interface FrontProxy {
  host: string;
  /** `METHOD path` of every request received, and the Authorization header seen. */
  log: { method: string; path: string; authorization?: string }[];
  behaviour: ProxyBehaviour;
  tokensIssued: { scope: string | null; service: string | null; basic: boolean }[];
  stop(): Promise<void>;
}

export async function startProxy(upstream: string, behaviour: ProxyBehaviour = {}): Promise<FrontProxy> {
  const log: FrontProxy['log'] = [];
  const tokensIssued: FrontProxy['tokensIssued'] = [];
  const valid = new Set<string>();
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const proxy: FrontProxy = { host, log, behaviour, tokensIssued, stop: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    log.push({ method: req.method ?? '', path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    const b = proxy.behaviour;
    if (b.auth && url.pathname === '/token') {
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : undefined;
      if (b.auth.username !== undefined && basic !== `${b.auth.username}:${b.auth.password}`) {
        res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = `tok-${tokensIssued.length}-${Math.random().toString(36).slice(2)}`;
      valid.add(token);
      tokensIssued.push({ scope: url.searchParams.get('scope'), service: url.searchParams.get('service'), basic: basic !== undefined });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ [b.auth.tokenField]: token, expires_in: 300 }));
      return;
    }
    if (b.auth && url.pathname.startsWith('/v2/')) {
      const token = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
      if (!token || !valid.has(token)) {
        const repo = url.pathname.match(/^\/v2\/(.+)\/(?:manifests|blobs)\//)?.[1];
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry"${repo ? `,scope="repository:${repo}:pull"` : ''}`,
            'content-type': 'application/json',
          })
          .end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    if (b.basicAuth && url.pathname.startsWith('/v2/')) {
      const expected = `Basic ${Buffer.from(`${b.basicAuth.username}:${b.basicAuth.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test registry"' }).end();
        return;
      }
    }
    const blob = url.pathname.match(/\/blobs\/(sha256:[a-f0-9]{64})$/)?.[1];
    if (blob && b.redirectBlobsTo && req.method === 'GET') {
      res.writeHead(307, { location: `${b.redirectBlobsTo}${url.pathname}?signed=1` }).end();
      return;
    }
    if (blob && req.method === 'GET' && b.dropBlob?.digest === blob && b.dropBlob.times > 0) {
      b.dropBlob.times--;
      forward(upstream, req, res, false, true);
      return;
    }
    forward(upstream, req, res, blob !== undefined && blob === b.corruptDigest);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  proxy.stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return proxy;
}

/** Forwards a request to the registry, optionally flipping one byte of the response body. */
function forward(upstream: string, req: IncomingMessage, res: ServerResponse, corrupt: boolean, drop = false): void {
  const headers = { ...req.headers, host: upstream };
  delete headers.authorization;
  const up = httpRequest(`http://${upstream}${req.url}`, { method: req.method, headers }, (upRes) => {
    const outHeaders = { ...upRes.headers };
    if (upRes.headers.location) outHeaders.location = upRes.headers.location.replace(`http://${upstream}`, '');
    res.writeHead(upRes.statusCode ?? 502, outHeaders);
    if (drop) {
      upRes.once('data', (chunk: Buffer) => {
        res.write(chunk.subarray(0, Math.floor(chunk.length / 2)));
        res.socket?.destroy();
        upRes.destroy();
      });
      return;
    }
    if (!corrupt) {
      upRes.pipe(res);
      return;
    }
    let flipped = false;
    upRes.on('data', (chunk: Buffer) => {
      if (!flipped && chunk.length > 20) {
        chunk = Buffer.from(chunk);
        chunk[20] = chunk[20]! ^ 0xff;
        flipped = true;
      }
      res.write(chunk);
    });
    upRes.on('end', () => res.end());
  });
  req.pipe(up);
  up.on('error', () => res.destroy());
}
