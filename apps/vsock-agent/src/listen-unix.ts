import { createServer, type Server } from 'node:net';
import { rmSync, lstatSync } from 'node:fs';
import { InternalError } from '@banger/errors';
import { serveConnection, type Log } from './serve.js';

/** Listens on a Unix socket (tests and tooling); every connection is its own session. */
export async function listenUnix(path: string, log: Log): Promise<Server> {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // Nothing there.
  }
  const server = createServer({ allowHalfOpen: false }, (socket) => {
    log('connection');
    socket.on('error', (e) => log(`connection error: ${e.message}`));
    void serveConnection(socket, log).then(() => log('connection closed'));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new InternalError('AGENT_LISTEN_FAILED', `cannot listen on ${path}: ${e.message}`, { cause: e })));
    server.listen(path, () => resolve());
  });
  log(`listening on ${path}`);
  return server;
}
