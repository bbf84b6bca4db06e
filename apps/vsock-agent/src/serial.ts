import { close as closeFd, createReadStream, createWriteStream, existsSync, open as openFd } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { basename, dirname } from 'node:path';
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveConnection, type Log } from './serve.js';

/**
 * Opens the char device read-write as one Duplex. Preferably as a libuv
 * stream (a Pipe handle on the fd: non-blocking reads and writes driven by
 * epoll on the event loop, as for a socket): the virtio-serial driver hands
 * out at most one 4 KiB buffer per read(), and through fs streams every one
 * of those reads was a round trip through libuv's thread pool — the agent
 * link's ≈ 1 MiB/s under TCG. A device that cannot be polled (or a Node
 * without the binding) falls back to fs streams.
 */
async function openDevice(path: string): Promise<Duplex> {
  // A plain fd, not a FileHandle: the stream below owns it, and a FileHandle would close it when collected.
  const fd = await new Promise<number>((resolve, reject) => openFd(path, 'r+', (error, opened) => (error ? reject(error) : resolve(opened))));
  const stream = pollableStream(fd);
  if (stream) return stream; // closing the stream closes the fd
  const readable = createReadStream('', { fd, autoClose: false, highWaterMark: 64 * 1024 });
  const writable = createWriteStream('', { fd, autoClose: false });
  const duplex = Duplex.from({ readable, writable });
  duplex.once('close', () => closeFd(fd, () => undefined));
  return duplex;
}

interface PipeHandle {
  open(fd: number): number;
}
type PipeBinding = { Pipe: new (type: number) => PipeHandle; constants: { SOCKET: number } };

/** The fd as a net.Socket over a libuv pipe handle (uv_pipe_open: any pollable fd), or undefined. */
export function pollableStream(fd: number): Socket | undefined {
  try {
    // process.binding is deprecated (documentation-only) but is the one way to wrap a char device fd in a libuv stream.
    const { Pipe, constants } = (process as unknown as { binding(name: string): PipeBinding }).binding('pipe_wrap');
    const pipe = new Pipe(constants.SOCKET);
    if (pipe.open(fd) !== 0) return undefined;
    // allowHalfOpen: the host's hang-up is a read EOF; shutdown(2) on a char device would only fail.
    return new Socket({ handle: pipe, readable: true, writable: true, allowHalfOpen: true } as ConstructorParameters<typeof Socket>[0]);
  } catch {
    return undefined;
  }
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
    log(`opened ${path} (${io instanceof Socket ? 'polled on the event loop' : 'read through the thread pool'})`);
    const started = Date.now();
    // Announced: the host's socket stays open across our sessions, and a request it sent to the session that just ended is lost.
    await serveConnection(io, log, { announce: true });
    io.destroy();
    // A session that lasted is a real hang-up: reopen at once. A device that gives EOF at once has no host yet.
    delay = Date.now() - started > 1_000 ? 100 : Math.min(delay * 2, 1_000);
    await sleep(delay);
  }
}

/** The symlink when it exists (udev is done with the port), else the kernel's node found through sysfs. */
const openablePort = async (path: string): Promise<string> => (existsSync(path) ? path : resolveSerialPort(path));
