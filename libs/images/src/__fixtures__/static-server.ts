import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';

export interface RecordedRequest {
  path: string;
  range?: string;
}

export interface StaticServerOptions {
  /** Destroy the connection of the first bundle (.zst) response after this many body bytes. */
  cutFirstBundleAfter?: number;
  /** Slow bundle responses down to about this many bytes per second. */
  bundleBytesPerSecond?: number;
}

/** A static file server on 127.0.0.1 with Range support, recording every request. */
export class StaticServer {
  readonly requests: RecordedRequest[] = [];
  private server!: Server;
  private cutDone = false;

  constructor(
    private readonly root: string,
    private readonly options: StaticServerOptions = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      this.requests.push({ path, ...(req.headers.range ? { range: req.headers.range } : {}) });
      const file = join(this.root, normalize(path));
      let size: number;
      try {
        size = statSync(file).size;
      } catch {
        res.writeHead(404).end('not found');
        return;
      }
      let start = 0;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        start = Number(range[1]);
        if (start >= size) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        res.writeHead(206, { 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}`, 'accept-ranges': 'bytes' });
      } else {
        res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
      }
      const isBundle = path.endsWith('.zst');
      const cutAt = isBundle && !this.cutDone ? this.options.cutFirstBundleAfter : undefined;
      if (cutAt !== undefined) this.cutDone = true;
      const rate = isBundle ? this.options.bundleBytesPerSecond : undefined;
      const stream = createReadStream(file, { start, highWaterMark: 16 * 1024 });
      let sent = 0;
      stream.on('data', (chunk) => {
        const buffer = chunk as Buffer;
        if (cutAt !== undefined && sent + buffer.length > cutAt) {
          res.write(buffer.subarray(0, cutAt - sent));
          stream.destroy();
          res.socket?.destroy();
          return;
        }
        sent += buffer.length;
        res.write(buffer);
        if (rate) {
          stream.pause();
          setTimeout(() => stream.resume(), (buffer.length / rate) * 1000);
        }
      });
      stream.on('end', () => res.end());
      req.on('close', () => stream.destroy());
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
