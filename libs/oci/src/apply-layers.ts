import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import tar from 'tar-stream';
import { CancelledError, UserError } from '@banger/errors';
import { findExecutable, isRoot, run, type ProgressSink } from '@banger/host';
import { openLayerTar } from './decompress.js';
import { entryComponents, resolveDirInRoot, UnsafeLayerError } from './safe-path.js';

/** One layer to apply: the blob on disk and its digest (used in messages). */
export interface LayerFile {
  path: string;
  digest: string;
  /** The config's `rootfs.diff_ids` entry: when given, the uncompressed tar must hash to it. */
  diffId?: string;
}

/** Limits and reporting for applyLayers. */
export interface ApplyLayersOptions {
  /** Bound on the sum of file sizes across all layers (tar bomb guard). Default 32 GiB. */
  maxBytes?: number;
  /** Bound on the number of tar entries across all layers. Default 2,000,000. */
  maxEntries?: number;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

/** What applyLayers did. */
export interface ApplyLayersResult {
  entries: number;
  bytes: number;
  /** Things skipped on purpose (device nodes when not root, xattrs without setfattr, unknown entry types). */
  warnings: string[];
}

export const DEFAULT_MAX_BYTES = 32 * 1024 ** 3;
export const DEFAULT_MAX_ENTRIES = 2_000_000;

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** The image is bigger than the limits allow. */
export class LayerLimitError extends UserError {
  constructor(layer: string, why: string) {
    super('OCI_LAYER_LIMIT', `layer ${layer}: ${why}`, { hint: 'the image is larger than banger allows (a tar bomb?); raise the limit only for an image you trust' });
  }
}

interface State {
  root: string;
  asRoot: boolean;
  entries: number;
  bytes: number;
  maxBytes: number;
  maxEntries: number;
  warnings: string[];
  warned: Set<string>;
  /** Directory metadata is applied last: writing children would bump the mtime, and a 0555 dir would block them. */
  dirs: Map<string, { mode: number; mtime: Date }>;
  setfattr: string | undefined;
}

/**
 * Applies image layers, lowest first, into the directory `root` (which must
 * exist, and should sit in a 0700 directory: the tree holds setuid files and
 * device nodes as the image defines them). Implements OCI whiteouts:
 * `.wh.<name>` deletes lower-layer content, `.wh..wh..opq` empties a
 * directory of lower-layer content wherever the marker sits in the layer.
 * Keeps modes, owners (when running as root), mtimes, symlinks, hard links,
 * device nodes (root only, else skipped with a warning) and xattrs (through
 * `setfattr`, when installed).
 *
 * Hostile layers cannot write outside `root`: `..` components are refused,
 * absolute names and symlinks are resolved inside the root, the last
 * component is never followed, and hard links must point inside the root.
 * `maxBytes`/`maxEntries` bound a tar bomb.
 */
export async function applyLayers(layers: readonly LayerFile[], root: string, options: ApplyLayersOptions = {}): Promise<ApplyLayersResult> {
  const state: State = {
    root,
    asRoot: isRoot(),
    entries: 0,
    bytes: 0,
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    warnings: [],
    warned: new Set(),
    dirs: new Map(),
    setfattr: findExecutable('setfattr'),
  };
  let totalCompressed = 0;
  for (const layer of layers) totalCompressed += (await lstat(layer.path)).size;
  let doneCompressed = 0;
  for (const [i, layer] of layers.entries()) {
    options.progress?.line?.(`applying layer ${i + 1}/${layers.length} ${layer.digest.slice(0, 19)}`);
    const layerTar = await openLayerTar(layer.path, (n) => {
      doneCompressed += n;
      options.progress?.bytes?.(doneCompressed, totalCompressed);
    });
    await applyOneLayer(layerTar.stream, layer.digest, state, options.signal);
    if (layer.diffId && layerTar.diffId() !== layer.diffId) {
      throw new UserError('OCI_LAYER_DIFFID_MISMATCH', `layer ${layer.digest} unpacks to ${layerTar.diffId()}, but the image config says ${layer.diffId}`, {
        hint: 'the image is inconsistent (or was tampered with before it was pushed); rebuild it',
      });
    }
  }
  // deepest first, so setting a parent's mtime is not undone by its children
  const dirs = [...state.dirs.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [path, meta] of dirs) {
    await chmod(path, meta.mode);
    await utimes(path, meta.mtime, meta.mtime);
  }
  return { entries: state.entries, bytes: state.bytes, warnings: state.warnings };
}

async function applyOneLayer(input: NodeJS.ReadableStream, digest: string, state: State, signal?: AbortSignal): Promise<void> {
  const extract = tar.extract();
  // Paths (relative to root, resolved) this layer wrote: whiteouts and opaque markers spare them.
  const written = new Set<string>();
  input.on('error', (error: Error) => extract.destroy(error));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract as unknown as AsyncIterable<Entry>) {
      if (signal?.aborted) throw new CancelledError('unpacking layers: cancelled');
      state.entries++;
      if (state.entries > state.maxEntries) throw new LayerLimitError(digest, `more than ${state.maxEntries} entries`);
      try {
        await applyEntry(entry, digest, state, written);
      } finally {
        entry.resume(); // drain whatever applyEntry did not read, or the extractor stalls
      }
    }
  } catch (error) {
    (input as unknown as { destroy?: () => void }).destroy?.();
    extract.destroy();
    throw describeTarError(error, digest);
  }
}

function describeTarError(error: unknown, digest: string): unknown {
  if (error instanceof UserError || error instanceof CancelledError) return error;
  const message = (error as Error).message ?? String(error);
  if (/unexpected end|invalid tar|incorrect header|Invalid tar/i.test(message)) {
    return new UserError('OCI_LAYER_CORRUPT', `layer ${digest} is not a valid tar archive: ${message}`, { hint: 'the image is corrupt; pull it again or rebuild it' });
  }
  return error;
}

type Entry = AsyncIterable<Buffer> & { header: tar.Header; resume(): unknown };

async function applyEntry(entry: Entry, digest: string, state: State, written: Set<string>): Promise<void> {
  const header = entry.header;
  const parts = entryComponents(header.name, digest);
  if (parts.length === 0) return; // the root itself: its owner and mode are fixed by mkfs
  const name = parts.at(-1)!;
  const parentParts = parts.slice(0, -1);

  if (name === OPAQUE || name.startsWith(WHITEOUT)) {
    const parent = await resolveDirInRoot(state.root, parentParts, { create: false, layer: digest, entry: header.name });
    if (!parent) return; // nothing below to hide
    if (name === OPAQUE) await makeOpaque(parent.hostPath, parent.relative, written);
    else if (!name.startsWith(`${WHITEOUT}${WHITEOUT}`)) {
      const hidden = name.slice(WHITEOUT.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw new UnsafeLayerError(digest, header.name, 'whiteout of an invalid name');
      if (!written.has([...parent.relative, hidden].join('/'))) await rm(join(parent.hostPath, hidden), { recursive: true, force: true });
    }
    return; // other .wh..wh.* entries are aufs bookkeeping and mean nothing here
  }

  const parent = await resolveDirInRoot(state.root, parentParts, { create: true, layer: digest, entry: header.name });
  const target = join(parent!.hostPath, name);
  const relative = [...parent!.relative, name].join('/');
  const mode = (header.mode ?? 0o644) & 0o7777;
  const mtime = header.mtime ?? new Date(0);
  const existing = await lstat(target).catch(() => undefined);

  if (header.type === 'directory') {
    if (existing && !existing.isDirectory()) await rm(target, { recursive: true, force: true });
    if (!existing || !existing.isDirectory()) await mkdirExact(target);
    await chown(target, header, state);
    await chmod(target, mode | 0o700); // owner-writable until the end
    state.dirs.set(target, { mode, mtime });
    written.add(relative);
    await applyXattrs(target, header, digest, state);
    return;
  }

  if (existing) await rm(target, { recursive: true, force: true });
  state.dirs.delete(target);

  switch (header.type) {
    case 'file':
    case 'contiguous-file': {
      const size = header.size ?? 0;
      if (state.bytes + size > state.maxBytes) throw new LayerLimitError(digest, `unpacked size exceeds the limit of ${formatBytes(state.maxBytes)} at "${header.name}"`);
      // O_EXCL|O_NOFOLLOW: never write through anything that appeared at the last component
      const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      let counted = 0;
      try {
        for await (const chunk of entry) {
          counted += chunk.length;
          if (counted > size) throw new UnsafeLayerError(digest, header.name, 'entry is longer than its header says');
          let offset = 0;
          while (offset < chunk.length) offset += (await fh.write(chunk, offset, chunk.length - offset)).bytesWritten;
        }
      } finally {
        await fh.close();
      }
      state.bytes += size;
      break;
    }
    case 'symlink':
      // the link text is kept verbatim: it is interpreted inside the guest, never followed here
      await symlink(header.linkname ?? '', target);
      break;
    case 'link': {
      const linkParts = entryComponents(header.linkname ?? '', digest);
      if (linkParts.length === 0) throw new UnsafeLayerError(digest, header.name, 'hard link to the root directory');
      const linkParent = await resolveDirInRoot(state.root, linkParts.slice(0, -1), { create: false, layer: digest, entry: header.name });
      const source = linkParent && join(linkParent.hostPath, linkParts.at(-1)!);
      const st = source ? await lstat(source).catch(() => undefined) : undefined;
      if (!source || !st) throw new UnsafeLayerError(digest, header.name, `hard link target "${header.linkname}" does not exist in the image`);
      if (st.isDirectory()) throw new UnsafeLayerError(digest, header.name, `hard link target "${header.linkname}" is a directory`);
      await link(source, target); // link(2) does not follow a symlink source: it links the symlink itself
      written.add(relative);
      return; // a hard link shares the inode: metadata is the target's
    }
    case 'character-device':
    case 'block-device':
    case 'fifo': {
      if (!state.asRoot && header.type !== 'fifo') {
        warnOnce(state, 'devices', `skipped device node /${relative} (and any others): creating device nodes needs root`);
        return;
      }
      const kind = header.type === 'fifo' ? 'p' : header.type === 'character-device' ? 'c' : 'b';
      const args = ['-m', (mode & 0o777).toString(8), target, kind];
      if (kind !== 'p') args.push(String(header.devmajor ?? 0), String(header.devminor ?? 0));
      await run('mknod', args);
      break;
    }
    default:
      warnOnce(state, `type:${header.type}`, `skipped /${relative}: unsupported tar entry type "${header.type}"`);
      return;
  }
  written.add(relative);
  await chown(target, header, state);
  if (header.type !== 'symlink') await chmod(target, mode); // after chown, which clears setuid bits
  await lutimes(target, mtime, mtime);
  await applyXattrs(target, header, digest, state);
}

async function mkdirExact(path: string): Promise<void> {
  await mkdir(path, { mode: 0o700 });
}

async function chown(path: string, header: tar.Header, state: State): Promise<void> {
  if (!state.asRoot) {
    if ((header.uid ?? 0) !== process.getuid?.() || (header.gid ?? 0) !== process.getgid?.()) {
      warnOnce(state, 'owners', 'file owners were not kept: running without root, every file belongs to the current user');
    }
    return;
  }
  await lchown(path, header.uid ?? 0, header.gid ?? 0);
}

async function applyXattrs(path: string, header: tar.Header, digest: string, state: State): Promise<void> {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (!pax) return;
  for (const [key, value] of Object.entries(pax)) {
    if (!key.startsWith('SCHILY.xattr.')) continue;
    const attr = key.slice('SCHILY.xattr.'.length);
    if (!state.setfattr) {
      warnOnce(state, 'xattr', `extended attributes (e.g. ${attr} on ${basename(path)}) were not kept: setfattr (package attr) is not installed`);
      return;
    }
    // tar-stream decodes pax values as UTF-8, so a binary value (security.capability) arrives mangled:
    // better to skip it loudly than to write a wrong capability set
    if (value.includes('\uFFFD')) {
      warnOnce(state, `xattr-binary:${attr}`, `binary extended attribute ${attr} (first on /${basename(path)}) was not kept`);
      continue;
    }
    const bytes = Buffer.from(value, 'utf8');
    const result = await run(state.setfattr, ['-h', '-n', attr, '-v', `0s${bytes.toString('base64')}`, path], { allowFailure: true });
    if (result.exitCode !== 0) warnOnce(state, `xattr:${attr}`, `could not set ${attr} from layer ${digest.slice(0, 19)}: ${result.stderr.trim()}`);
  }
}

/** Removes every child of `dir` that this layer did not write itself (opaque marker semantics). */
async function makeOpaque(dir: string, relative: string[], written: Set<string>): Promise<void> {
  for (const child of await readdir(dir)) {
    const childRel = [...relative, child].join('/');
    const host = join(dir, child);
    if (!written.has(childRel)) {
      await rm(host, { recursive: true, force: true });
      continue;
    }
    const st = await lstat(host);
    if (st.isDirectory()) await makeOpaque(host, [...relative, child], written);
  }
}

function warnOnce(state: State, key: string, text: string): void {
  if (state.warned.has(key)) return;
  state.warned.add(key);
  state.warnings.push(text);
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
