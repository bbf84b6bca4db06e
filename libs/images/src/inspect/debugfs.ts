import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { run } from '@banger/host';

/** One inode as `debugfs stat` shows it. */
export interface ImageInode {
  type: 'regular' | 'directory' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Target of a (fast) symlink. */
  linkTarget?: string;
}

/**
 * Reads ext4 images without mounting them (no root, no loop device), through
 * `debugfs -R`. debugfs follows symlinks in the middle of a path (/sbin →
 * usr/sbin) but not the last component; `resolve` follows those too.
 */
export class Ext4Reader {
  constructor(private readonly image: string) {}

  /** The inode at `path`, without following a final symlink; undefined when absent. */
  async lstat(path: string): Promise<ImageInode | undefined> {
    const { stdout, stderr } = await this.debugfs(`stat ${quote(path)}`);
    if (/File not found|not found by ext2_lookup/i.test(stderr + stdout)) return undefined;
    const head = /Type:\s*(\w+)\s+Mode:\s*([0-7]+)/.exec(stdout);
    if (!head) return undefined;
    const owner = /User:\s*(\d+)\s+Group:\s*(\d+)(?:\s+Project:\s*\d+)?\s+Size:\s*(\d+)/.exec(stdout);
    const type = head[1] === 'regular' || head[1] === 'directory' || head[1] === 'symlink' ? head[1] : 'other';
    const inode: ImageInode = {
      type,
      mode: Number.parseInt(head[2]!, 8),
      uid: Number(owner?.[1] ?? 0),
      gid: Number(owner?.[2] ?? 0),
      size: Number(owner?.[3] ?? 0),
    };
    const link = /Fast link dest:\s*"(.*)"/.exec(stdout);
    if (link) inode.linkTarget = link[1];
    return inode;
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
    // `dump` to a temp file rather than `cat` on stdout: run()'s binary mode does not return bytes yet (see report).
    const dir = await mkdtemp(join(tmpdir(), 'banger-debugfs-'));
    try {
      const out = join(dir, 'file');
      await run('debugfs', ['-R', `dump ${quote(found.path)} ${out}`, this.image]);
      return await readFile(out);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Names in a directory (without . and ..); undefined when absent. */
  async readdir(path: string): Promise<string[] | undefined> {
    const found = await this.resolve(path);
    if (!found || found.inode.type !== 'directory') return undefined;
    const { stdout } = await this.debugfs(`ls -p ${quote(found.path)}`);
    // ls -p: /inode/mode/uid/gid/name/size/
    return stdout
      .split('\n')
      .map((line) => line.split('/'))
      .filter((f) => f.length >= 7)
      .map((f) => f.slice(5, f.length - 2).join('/'))
      .filter((n) => n && n !== '.' && n !== '..');
  }

  private debugfs(request: string): Promise<{ stdout: string; stderr: string }> {
    return run('debugfs', ['-R', request, this.image], { env: { LC_ALL: 'C' } });
  }
}

/** debugfs splits requests on whitespace; double quotes keep a path with spaces whole. */
const quote = (path: string): string => (/[\s"]/.test(path) ? `"${path.replace(/"/g, '\\"')}"` : path);
