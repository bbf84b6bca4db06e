import { lstat, readFile, readlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Pack } from 'tar-stream';
import { CancelledError, InternalError, UserError } from '@banger/errors';
import type { ProgressSink } from '@banger/host';
import { shellQuote } from '../ssh/open-ssh-args.js';
import type { GuestExec, GuestExecResult } from './guest-exec.js';
import { listWorkspaceFiles } from './list-files.js';
import { buildManifest, diffManifests, type Manifest } from './manifest.js';

/** Options of `syncWorkspace`. */
export interface SyncWorkspaceOptions {
  /** Runs a command in the guest (see `sshGuestExec`). */
  exec: GuestExec;
  /** The host repository (its top directory). */
  repoDir: string;
  /** Absolute guest directory, e.g. `/root/<repo-name>`. */
  guestDir: string;
  /** The manifest returned by the last sync to this VM; absent for the first one. */
  previous?: Manifest;
  signal?: AbortSignal;
  progress?: ProgressSink;
}

/** What a sync did. */
export interface SyncWorkspaceResult {
  /** The new state of the guest copy: store it (per VM) and pass it as `previous` next time. */
  manifest: Manifest;
  /** Files (and symlinks) sent, and the bytes of their content. */
  transferred: { files: number; bytes: number };
  /** Paths removed from the guest copy. */
  deleted: string[];
}

// Small files are read whole: faster than a stream each, and their size cannot drift mid-entry.
const WHOLE_FILE_LIMIT = 1024 * 1024;

/**
 * Brings the guest copy at `guestDir` up to date with the host repository:
 * lists the workspace files (see listWorkspaceFiles), compares them with
 * `previous`, removes files deleted on the host (one guest command, paths
 * NUL-separated on stdin, then directories left empty by them), and streams
 * a tar of only the new and changed files into `tar -x` in the guest (one
 * more command). Nothing is run when nothing changed. Files the guest itself
 * changed are not detected: the manifest records what banger sent.
 */
export async function syncWorkspace(options: SyncWorkspaceOptions): Promise<SyncWorkspaceResult> {
  const { exec, repoDir, signal, progress } = options;
  const guestDir = checkGuestDir(options.guestDir);
  const files = await listWorkspaceFiles(repoDir);
  const manifest = await buildManifest(repoDir, files, options.previous);
  const { changed, deleted } = diffManifests(options.previous, manifest);
  progress?.line?.(`workspace: ${changed.length} changed, ${deleted.length} deleted of ${files.length} files`);

  if (deleted.length > 0) {
    const paths = [...deleted, ...emptiedDirectories(deleted, manifest)];
    const script = `cd -- ${shellQuote(guestDir)} 2>/dev/null || exit 0; xargs -0 -r sh -c 'for p do if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir -- "$p" 2>/dev/null; else rm -f -- "$p"; fi; done; exit 0' banger-sync`;
    check(await exec(script, { stdin: Buffer.from(paths.map((p) => `${p}\0`).join('')), signal }), `deleting ${deleted.length} files in ${guestDir}`);
  }

  let bytes = 0;
  if (changed.length > 0) {
    const total = changed.reduce((sum, path) => sum + (manifest.entries[path]?.type === 'file' ? (manifest.entries[path]?.size ?? 0) : 0), 0);
    const pack = tar.pack();
    // When the guest stops reading (tar failed, disk full) the pack is destroyed, and a write
    // waiting for room would otherwise wait forever: every write also races the pack's close.
    const stoppedReading = new Error('the guest stopped reading');
    const closed = new Promise<never>((_resolve, reject) => pack.once('close', () => reject(stoppedReading)));
    closed.catch(() => undefined);
    let written = false;
    let writeError: unknown;
    const writing = (async () => {
      for (const path of changed) {
        if (signal?.aborted) throw new CancelledError('workspace sync: cancelled');
        bytes += await Promise.race([addEntry(pack, repoDir, path), closed]);
        progress?.bytes?.(bytes, total);
      }
      pack.finalize();
      written = true;
    })().catch((error: unknown) => {
      writeError ??= error;
      pack.destroy();
    });
    const command = `mkdir -p -- ${shellQuote(guestDir)} && tar -x -f - -C ${shellQuote(guestDir)}`;
    let result: GuestExecResult;
    try {
      result = await exec(command, { stdin: pack as unknown as Readable, signal });
    } catch (error) {
      pack.destroy();
      await writing;
      // A host-side failure (unreadable or changing file) explains the broken stream better than ssh does.
      throw writeError instanceof UserError || writeError instanceof CancelledError ? writeError : error;
    }
    if (!written) {
      pack.destroy();
      await writing;
    }
    // The guest's own status explains a stream it stopped reading; a host-side failure explains itself.
    if (writeError && writeError !== stoppedReading) throw writeError;
    check(result, `extracting ${changed.length} files into ${guestDir}`);
    if (!written) {
      throw new InternalError('WORKSPACE_SYNC_FAILED', `workspace sync: the guest's tar exited before reading every file for ${guestDir}`);
    }
  }
  return { manifest, transferred: { files: changed.length, bytes }, deleted };
}

/** Adds one file or symlink to the tar; returns the content bytes sent. */
async function addEntry(pack: Pack, repoDir: string, path: string): Promise<number> {
  const full = join(repoDir, path);
  const stat = await lstat(full).catch(() => undefined);
  const base = { name: path, mode: (stat?.mode ?? 0o644) & 0o7777, mtime: stat?.mtime ?? new Date(), uid: 0, gid: 0, uname: 'root', gname: 'root' };
  try {
    if (!stat) throw new Error('it disappeared');
    if (stat.isSymbolicLink()) {
      const linkname = await readlink(full);
      await new Promise<void>((resolve, reject) => pack.entry({ ...base, type: 'symlink', linkname }, (e) => (e ? reject(e) : resolve())));
      return 0;
    }
    if (stat.size <= WHOLE_FILE_LIMIT) {
      const content = await readFile(full);
      await new Promise<void>((resolve, reject) => pack.entry({ ...base, type: 'file', size: content.length }, content, (e) => (e ? reject(e) : resolve())));
      return content.length;
    }
    const entry = pack.entry({ ...base, type: 'file', size: stat.size });
    await pipeline(createReadStream(full, { end: stat.size - 1 }), entry);
    return stat.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new UserError('WORKSPACE_FILE_UNREADABLE', `workspace sync: cannot read ${path}: permission denied`, {
        hint: 'fix its permissions, or add it to .gitignore',
        cause: error,
      });
    }
    throw new UserError('WORKSPACE_FILE_CHANGED', `workspace sync: ${path} changed while it was being copied: ${(error as Error).message}`, {
      hint: 'run the command again once the file is written',
      cause: error,
    });
  }
}

/** Ancestors of deleted paths that hold nothing in the new manifest, deepest first. */
function emptiedDirectories(deleted: readonly string[], manifest: Manifest): string[] {
  const kept = new Set<string>();
  for (const path of Object.keys(manifest.entries)) {
    for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) kept.add(dir);
  }
  const candidates = new Set<string>();
  for (const path of deleted) {
    for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) if (!kept.has(dir)) candidates.add(dir);
  }
  return [...candidates].sort((a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a));
}

function checkGuestDir(dir: string): string {
  const normalised = posix.normalize(dir);
  if (!normalised.startsWith('/') || normalised === '/' || /[\0\n]/.test(dir)) {
    throw new UserError('WORKSPACE_BAD_GUEST_DIR', `workspace sync: guest directory ${JSON.stringify(dir)} must be an absolute path below /`);
  }
  return normalised.replace(/\/+$/, '');
}

function check(result: GuestExecResult, what: string): void {
  if (result.exitCode === 0) return;
  const status = result.exitCode === null ? `killed by ${result.signal}` : `exit status ${result.exitCode}`;
  const why = result.stderr.trim().split('\n').at(-1) || status;
  throw new InternalError('WORKSPACE_SYNC_FAILED', `workspace sync: ${what} failed in the guest: ${why}`, {
    hint: 'check free space on the guest work disk (df -h /root) and that tar is installed in the image',
  });
}
