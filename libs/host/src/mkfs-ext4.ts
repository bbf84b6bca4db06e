import { runPrivileged } from './privileged.js';
import { run, type RunResult } from './exec.js';

/** What `mkfs.ext4 -d` is asked for: one place that spells its argv, so every image is made the same way. */
export interface MkfsExt4Options {
  /** The directory whose contents become the filesystem (`-d`). */
  tree: string;
  /** The image file; made at `size`, or at its current length when `size` is omitted. */
  image: string;
  /** Filesystem label (`-L`): what the guest mounts it by. */
  label: string;
  /** Size argument after the image (`2048M`, `1024k`). */
  size?: string;
  /** `-b`: block size in bytes. */
  blockSize?: number;
  /** `-m`: percentage of blocks reserved for root (mkfs's default is 5). */
  reservedPercent?: number;
  /** `-i`: bytes per inode. */
  bytesPerInode?: number;
  /** `-N`: inode count. */
  inodes?: number;
  /** `-O`: filesystem features, e.g. `^has_journal`. */
  features?: readonly string[];
  /** `-E`: extended options, e.g. `root_owner=0:0`. */
  extended?: readonly string[];
  /** Through `runPrivileged`, to read every root-owned file of the tree. */
  privileged?: boolean;
  /** Return the failure instead of throwing (a caller that retries bigger). */
  allowFailure?: boolean;
  signal?: AbortSignal;
}

/** The argv (after `mkfs.ext4`) for `options`: quiet, forced (the image is a file), populated from the tree. */
export function mkfsExt4Args(options: MkfsExt4Options): string[] {
  const opt = (flag: string, value: string | number | undefined): string[] => (value === undefined ? [] : [flag, String(value)]);
  const list = (flag: string, values: readonly string[] | undefined): string[] => (values?.length ? [flag, values.join(',')] : []);
  return [
    '-q',
    '-F',
    '-L',
    options.label,
    ...opt('-b', options.blockSize),
    ...opt('-m', options.reservedPercent),
    ...opt('-i', options.bytesPerInode),
    ...opt('-N', options.inodes),
    ...list('-O', options.features),
    ...list('-E', options.extended),
    '-d',
    options.tree,
    options.image,
    ...(options.size === undefined ? [] : [options.size]),
  ];
}

/** Makes an ext4 filesystem in `options.image` holding `options.tree` (`mkfs.ext4 -d`: no mount, no loop device). */
export function mkfsExt4(options: MkfsExt4Options): Promise<RunResult> {
  const runOptions = { ...(options.signal ? { signal: options.signal } : {}), ...(options.allowFailure ? { allowFailure: true } : {}) };
  return (options.privileged ? runPrivileged : run)('mkfs.ext4', mkfsExt4Args(options), runOptions);
}
