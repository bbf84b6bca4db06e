import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Asks the kernel for a free loopback port (released before returning; fine for tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
