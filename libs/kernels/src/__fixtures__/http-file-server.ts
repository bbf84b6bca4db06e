import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A static file server on 127.0.0.1 that honours `Range: bytes=N-` and records the Range headers it saw. */
export async function serveFile(file: string): Promise<{ url: string; ranges: string[]; close(): Promise<void> }> {
  const ranges: string[] = [];
  const server: Server = createServer((req, res) => {
    const size = statSync(file).size;
    const range = req.headers.range;
    if (range) {
      ranges.push(range);
      const start = Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? NaN);
      if (!Number.isFinite(start) || start >= size) {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': size - start, 'content-range': `bytes ${start}-${size - 1}/${size}` });
      createReadStream(file, { start }).pipe(res);
      return;
    }
    res.writeHead(200, { 'content-length': size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/debian-cloud.tar.zst`,
    ranges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
