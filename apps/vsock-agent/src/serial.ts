import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
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
 * The device node of a named virtio-serial port. `/dev/virtio-ports/<name>`
 * is a symlink udev makes, which early in boot (udev's coldplug still
 * running, seconds under TCG) may not exist yet; the kernel's own node
 * (`/dev/vportNpM`, from devtmpfs) and its name in sysfs exist as soon as the
 * driver has probed. So when the path is such a symlink and is missing, the
 * port is looked up by name in `<sysfs>/class/virtio-ports/*\/name`.
 */
export async function resolveSerialPort(path: string, sysfs = '/sys'): Promise<string> {
  if (dirname(path) !== '/dev/virtio-ports') return path;
  const wanted = basename(path);
  const classDir = `${sysfs}/class/virtio-ports`;
  const ports = await readdir(classDir).catch(() => [] as string[]);
  for (const port of ports) {
    const name = await readFile(`${classDir}/${port}/name`, 'utf8').catch(() => '');
    if (name.trim() === wanted) return `/dev/${port}`;
  }
  return path;
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
      io = await openDevice(await openablePort(path));
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

/** The symlink when it exists (udev is done with the port), else the kernel's node found through sysfs. */
const openablePort = async (path: string): Promise<string> => (existsSync(path) ? path : resolveSerialPort(path));
