import { InternalError } from '@banger/errors';
import { run } from './exec.js';

/**
 * Reading and editing ext4 images without mounting them (no root, no loop
 * device) through debugfs: the one place that quotes paths for it, runs its
 * scripts and parses what it prints.
 */

/** What `debugfs stat` says about one inode. */
export interface Ext4Inode {
  type: 'regular' | 'directory' | 'symlink' | 'other';
  /** Permission bits, e.g. 0o600. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Target of a fast symlink (a slow one's target is not shown by stat). */
  linkTarget?: string;
}

/**
 * Quotes a path for debugfs's command parser. Paths holding a double quote or
 * a newline cannot be expressed in a debugfs script and are refused.
 */
export function debugfsQuote(path: string): string {
  if (/["\n\r]/.test(path)) {
    throw new InternalError('DEBUGFS_BAD_PATH', `debugfs: cannot address ${JSON.stringify(path)}: it contains a quote or a newline`);
  }
  return `"${path}"`;
}

/**
 * Runs a debugfs script against an ext4 image (read-write when `write`).
 * debugfs exits 0 even when a command fails, so callers verify the result by
 * reading it back (`statInode`, `readImageFile`) rather than trusting the status.
 */
export async function runDebugfs(image: string, commands: readonly string[], options: { write?: boolean; signal?: AbortSignal } = {}): Promise<string> {
  // The script goes in on stdin (`-f -`): no temp file for a killed daemon to leave behind.
  const result = await run('debugfs', [...(options.write ? ['-w'] : []), '-f', '-', image], { input: scriptOf(commands), signal: options.signal });
  return result.stderr;
}

function scriptOf(commands: readonly string[]): string {
  return commands.join('\n') + '\n';
}

/** Runs one debugfs request (`-R`) read-only; its output parsed in the C locale. */
export function debugfsRequest(image: string, request: string, options: { signal?: AbortSignal } = {}): Promise<{ stdout: string; stderr: string }> {
  return run('debugfs', ['-R', request, image], { env: { LC_ALL: 'C' }, allowFailure: true, ...(options.signal ? { signal: options.signal } : {}) });
}

/**
 * Inode facts for `path` inside the image, without following a final symlink
 * (debugfs follows those in the middle of a path); undefined when it does not exist.
 */
export async function statInode(image: string, path: string): Promise<Ext4Inode | undefined> {
  const { stdout } = await debugfsRequest(image, `stat ${debugfsQuote(path)}`);
  return parseDebugfsStat(stdout);
}

/** What `debugfs stat` printed for one inode, parsed; undefined when it printed no inode (a missing path). */
export function parseDebugfsStat(stdout: string): Ext4Inode | undefined {
  const head = /Type:\s*(\S+)\s+Mode:\s*([0-7]+)/.exec(stdout);
  const owner = /User:\s*(\d+)\s+Group:\s*(\d+)/.exec(stdout);
  const size = /Size:\s*(\d+)/.exec(stdout);
  if (!head || !owner) return undefined;
  const kind = head[1];
  const inode: Ext4Inode = {
    type: kind === 'regular' || kind === 'directory' || kind === 'symlink' ? kind : 'other',
    mode: Number.parseInt(head[2] ?? '0', 8),
    uid: Number(owner[1]),
    gid: Number(owner[2]),
    size: Number(size?.[1] ?? 0),
  };
  const link = /Fast link dest:\s*"(.*)"/.exec(stdout);
  if (link) inode.linkTarget = link[1];
  return inode;
}

/**
 * Runs a debugfs script (read-write when `write`) and returns what each
 * command printed on stdout, keyed by the command's text: debugfs echoes
 * every command of a `-f` script as `debugfs: <command>` before its output.
 * One process for many reads (`stat`, `dump`) instead of one per request:
 * each debugfs start opens the image and reads its group descriptors.
 */
export async function runDebugfsScript(image: string, commands: readonly string[], options: { write?: boolean; signal?: AbortSignal } = {}): Promise<{ outputs: Map<string, string>; stderr: string }> {
  const result = await run('debugfs', [...(options.write ? ['-w'] : []), '-f', '-', image], { input: scriptOf(commands), env: { LC_ALL: 'C' }, ...(options.signal ? { signal: options.signal } : {}) });
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('debugfs: ')) sections.set(line.slice('debugfs: '.length), (current = []));
    else current?.push(line);
  }
  const outputs = new Map([...sections].map(([command, lines]) => [command, lines.join('\n')]));
  return { outputs, stderr: result.stderr };
}

/** Names in the directory `path` (without . and ..), from `ls -p`. */
export async function listDirectory(image: string, path: string): Promise<string[]> {
  const { stdout } = await debugfsRequest(image, `ls -p ${debugfsQuote(path)}`);
  // ls -p: /inode/mode/uid/gid/name/size/
  return stdout
    .split('\n')
    .map((line) => line.split('/'))
    .filter((f) => f.length >= 7)
    .map((f) => f.slice(5, f.length - 2).join('/'))
    .filter((n) => n && n !== '.' && n !== '..');
}

/** Largest file readImageFile returns: 2 GiB, within a Node Buffer's limit. */
const READ_IMAGE_FILE_MAX_BYTES = 2 ** 31 - 1;

/** The bytes of a regular file inside the image (empty when it does not exist). */
export async function readImageFile(image: string, path: string): Promise<Buffer> {
  // `cat` kept as bytes (binary): no temp file for a killed daemon to leave. Not `dump` to /dev/stdout: Node's stdout pipe is a socket, which open() refuses.
  // No cap below Node's largest Buffer: a guest binary (mise is 150 MB) is a legitimate read.
  const result = await run('debugfs', ['-R', `cat ${debugfsQuote(path)}`, image], { binary: true, maxBufferBytes: READ_IMAGE_FILE_MAX_BYTES });
  return result.stdoutBuffer ?? Buffer.alloc(0);
}
