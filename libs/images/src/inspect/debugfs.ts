import { posix } from 'node:path';
import { listDirectory, readImageFile, statInode, type Ext4Inode } from '@banger/host';

/** One inode as `debugfs stat` shows it. */
export type ImageInode = Ext4Inode;

/**
 * Reads ext4 images without mounting them (no root, no loop device), through
 * the host toolkit's debugfs reads. debugfs follows symlinks in the middle of
 * a path (/sbin → usr/sbin) but not the last component; `resolve` follows
 * those too.
 */
export class Ext4Reader {
  constructor(private readonly image: string) {}

  /** The inode at `path`, without following a final symlink; undefined when absent. */
  lstat(path: string): Promise<ImageInode | undefined> {
    return statInode(this.image, path);
  }

  /** The inode at `path` after following symlinks (at most 16), with the resolved path. */
  async resolve(path: string): Promise<{ path: string; inode: ImageInode } | undefined> {
    let current = posix.normalize(path);
    for (let hops = 0; hops < 16; hops++) {
      const inode = await this.lstat(current);
      if (!inode) return undefined;
      if (inode.type !== 'symlink') return { path: current, inode };
      if (inode.linkTarget === undefined) return { path: current, inode }; // slow symlink: exists, target unread
      current = posix.resolve(posix.dirname(current), inode.linkTarget);
    }
    return undefined;
  }

  /** The content of a file (symlinks followed); undefined when absent. */
  async readFile(path: string): Promise<Buffer | undefined> {
    const found = await this.resolve(path);
    if (!found || found.inode.type !== 'regular') return undefined;
    return readImageFile(this.image, found.path);
  }

  /** Names in a directory (without . and ..); undefined when absent. */
  async readdir(path: string): Promise<string[] | undefined> {
    const found = await this.resolve(path);
    if (!found || found.inode.type !== 'directory') return undefined;
    return listDirectory(this.image, found.path);
  }
}
