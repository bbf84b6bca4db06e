import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort } from './free-port.js';

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
  log: { method: string; path: string; authorization?: string; range?: string }[];
  behaviour: ProxyBehaviour;
  tokensIssued: { scope: string | null; service: string | null; basic: boolean }[];
  stop(): Promise<void>;
}

/** Starts a FrontProxy on a free 127.0.0.1 port forwarding to the registry at `upstream` (`host:port`). */
export async function startProxy(upstream: string, behaviour: ProxyBehaviour = {}): Promise<FrontProxy> {
  const log: FrontProxy['log'] = [];
  const tokensIssued: FrontProxy['tokensIssued'] = [];
  const valid = new Set<string>();
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const proxy: FrontProxy = { host, log, behaviour, tokensIssued, stop: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', `http://${host}`);
    log.push({ method: req.method ?? '', path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), ...(req.headers.range ? { range: req.headers.range } : {}) });
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
