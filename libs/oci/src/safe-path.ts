import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '@banger/errors';

/** A layer entry that would reach outside the root, or that the tree cannot hold. */
export class UnsafeLayerError extends UserError {
  constructor(layer: string, entry: string, why: string) {
    super('OCI_LAYER_UNSAFE', `layer ${layer} entry "${entry}": ${why}`, {
      hint: 'the image contains a hostile or corrupt layer; nothing outside the unpack directory was written — do not use this image',
    });
  }
}

/** Symlink hops allowed while resolving one path, like the kernel's ELOOP limit. */
const MAX_SYMLINK_HOPS = 40;

/**
 * Splits a tar entry name into components relative to the root. A leading
 * `/` or `./` is dropped (absolute names are contained in the root, as tar
 * does); a `..` component anywhere is refused, since real layers never need
 * one and it is the classic escape.
 */
export function entryComponents(name: string, layer: string): string[] {
  if (name.includes('\0')) throw new UnsafeLayerError(layer, name.replace(/\0/g, '\\0'), 'the name contains a NUL byte');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerError(layer, name, "a '..' component would escape the root");
  return parts;
}

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

/**
 * Resolves directory components inside `root` the way a chroot would: a
 * symlink met on the way is followed with its target read relative to the
 * root (an absolute `/etc` means `<root>/etc`, a `..` stops at the root), so
 * no path ever resolves outside `root`. Every resolved component must be a
 * real directory. Missing directories are created (mode 0755) when
 * `create` is set; otherwise undefined is returned for a missing one.
 * Returns the host path of the directory and its components relative to root.
 */
export async function resolveDirInRoot(
  root: string,
  components: readonly string[],
  options: { create: boolean; layer: string; entry: string },
): Promise<{ hostPath: string; relative: string[] } | undefined> {
  const resolved: string[] = [];
  const queue = [...components];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, c);
    let st;
    try {
      st = await lstat(host);
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
      if (!options.create) return undefined;
      await mkdir(host, { mode: 0o755 });
      resolved.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) throw new UnsafeLayerError(options.layer, options.entry, 'too many levels of symbolic links');
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) {
      if (!options.create) return undefined;
      throw new UnsafeLayerError(options.layer, options.entry, `/${[...resolved, c].join('/')} is not a directory`);
    }
    resolved.push(c);
  }
  return { hostPath: join(root, ...resolved), relative: resolved };
}
