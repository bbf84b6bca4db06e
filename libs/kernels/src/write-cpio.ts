import { gzipSync } from 'node:zlib';
import { InternalError } from '@banger/errors';

/** One member of a newc cpio archive. Paths are relative (`bin/busybox`, no leading slash). */
export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char' | 'block'; path: string; major: number; minor: number; mode?: number };

export interface WriteCpioOptions {
  /** mtime stamped on every entry; 0 by default so the same input gives the same bytes. */
  mtime?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/**
 * Writes a "newc" (SVR4, `070701`) cpio archive, the format the kernel
 * unpacks as an initramfs. Every entry is owned by 0:0; directories must come
 * before what they contain (the kernel unpacks in order), which is checked.
 * Ends with the `TRAILER!!!` record.
 */
export function writeCpio(entries: readonly CpioEntry[], options: WriteCpioOptions = {}): Buffer {
  const mtime = options.mtime ?? 0;
  const chunks: Buffer[] = [];
  const seenDirs = new Set<string>(['', '.']);
  const seenPaths = new Set<string>();
  let ino = 1;
  for (const entry of entries) {
    const path = normalise(entry.path);
    const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (!seenDirs.has(parent)) {
      throw new InternalError('CPIO_BAD_ENTRY', `cannot write cpio entry ${path}: its directory ${parent} is not listed before it`);
    }
    if (seenPaths.has(path)) throw new InternalError('CPIO_BAD_ENTRY', `cannot write cpio entry ${path}: listed twice`);
    seenPaths.add(path);
    let mode: number;
    let data: Buffer = Buffer.alloc(0);
    let rdev = { major: 0, minor: 0 };
    switch (entry.type) {
      case 'dir':
        mode = S_IFDIR | (entry.mode ?? 0o755);
        seenDirs.add(path);
        break;
      case 'file':
        mode = S_IFREG | (entry.mode ?? 0o644);
        data = entry.data;
        break;
      case 'symlink':
        mode = S_IFLNK | 0o777;
        data = Buffer.from(entry.target, 'utf8');
        break;
      case 'char':
      case 'block':
        mode = (entry.type === 'char' ? S_IFCHR : S_IFBLK) | (entry.mode ?? 0o600);
        rdev = { major: entry.major, minor: entry.minor };
        break;
    }
    chunks.push(record(path, { ino: ino++, mode, nlink: entry.type === 'dir' ? 2 : 1, mtime, rdev }, data));
  }
  chunks.push(record('TRAILER!!!', { ino: 0, mode: 0, nlink: 1, mtime: 0, rdev: { major: 0, minor: 0 } }, Buffer.alloc(0)));
  return Buffer.concat(chunks);
}

/** writeCpio, gzip-compressed (level 9): the initrd the kernel loads. */
export function writeCpioGz(entries: readonly CpioEntry[], options: WriteCpioOptions = {}): Buffer {
  return gzipSync(writeCpio(entries, options), { level: 9 });
}

interface Header {
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  rdev: { major: number; minor: number };
}

function record(name: string, h: Header, data: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [h.ino, h.mode, 0, 0, h.nlink, h.mtime, data.length, 0, 0, h.rdev.major, h.rdev.minor, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  // Name (after the 110-byte header) and data are each padded to 4 bytes.
  return Buffer.concat([header, nameBytes, pad(header.length + nameBytes.length), data, pad(data.length)]);
}

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InternalError('CPIO_BAD_ENTRY', `cannot write cpio header field ${value}: out of range`);
  }
  return value.toString(16).padStart(8, '0');
}

function pad(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function normalise(path: string): string {
  const clean = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!clean || clean.split('/').some((part) => part === '..' || part === '' || part === '.')) {
    throw new InternalError('CPIO_BAD_ENTRY', `cannot write cpio entry ${JSON.stringify(path)}: not a plain relative path`);
  }
  return clean;
}
