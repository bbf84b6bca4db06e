import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveConnection, type Log } from './serve.js';

/** Opens the char device read-write as one Duplex (reads and writes go through libuv's thread pool). */
async function openDevice(path: string): Promise<Duplex> {
  const handle = await open(path, 'r+');
  const readable = createReadStream('', { fd: handle.fd, autoClose: false, highWaterMark: 64 * 1024 });
  const writable = createWriteStream('', { fd: handle.fd, autoClose: false });
  const duplex = Duplex.from({ readable, writable });
  duplex.once('close', () => void handle.close().catch(() => undefined));
  return duplex;
}

/**
 * Serves the virtio-serial port forever: waits while the device does not
 * exist (udev may not have made it yet), and re-opens it when a session ends
 * (the host end hung up: reads return EOF), with a backoff up to 1 s.
 */
export async function serveSerial(path: string, log: Log, signal?: AbortSignal): Promise<void> {
  let delay = 100;
  let waitingLogged = false;
  while (!signal?.aborted) {
    let io: Duplex;
    try {
      io = await openDevice(path);
    } catch (error) {
      if (!waitingLogged) log(`waiting for ${path}: ${(error as Error).message}`);
      waitingLogged = true;
      await sleep(delay);
      delay = Math.min(delay * 2, 1_000);
      continue;
    }
    waitingLogged = false;
    log(`opened ${path}`);
    const started = Date.now();
    await serveConnection(io, log);
    io.destroy();
    // A session that lasted is a real hang-up: reopen at once. A device that gives EOF at once has no host yet.
    delay = Date.now() - started > 1_000 ? 100 : Math.min(delay * 2, 1_000);
    await sleep(delay);
  }
}
