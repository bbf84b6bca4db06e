import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** Sends one file that exists under the server's root (`size` bytes). */
export type ServeFile = (req: IncomingMessage, res: ServerResponse, file: string, size: number) => void;

/** The whole file, 200. */
export const sendWhole: ServeFile = (req, res, file, size) => {
  const stream = createReadStream(file);
  res.writeHead(200, { 'content-length': size });
  stream.pipe(res);
  req.on('close', () => stream.destroy());
};

/**
 * A static file server on 127.0.0.1 — inside the test's throwaway netns, as
 * the catalogs and bundles a user's machine would download. Counts requests
 * per path; 404 for anything that is not a file under `root`; `serve` decides
 * how a file goes out (slowed, stalled, corrupted, ranged).
 */
export class StaticServer {
  readonly requests = new Map<string, number>();
  private server: Server | undefined;

  constructor(
    private readonly root: string,
    private readonly serve: ServeFile = sendWhole,
  ) {}

  get url(): string {
    if (!this.server) throw new Error('StaticServer: not started');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      const file = join(this.root, path);
      if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
      this.serve(req, res, file, statSync(file).size);
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
