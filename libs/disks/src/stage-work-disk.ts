import { chmod, cp, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '@banger/errors';
import { describeEntry, resolveFileSync, type FileSyncEntry } from './file-sync.js';

/** What goes onto a VM's work disk (the guest's /root). */
export interface StageWorkDiskOptions {
  /** An empty (or missing) directory that becomes the disk's root, i.e. the guest's /root. */
  stagingDir: string;
  /** authorized_keys lines to install: the host user's public key. */
  authorizedKeys: string;
  /** The image's /root skeleton (dotfiles), copied first; its modes are kept. */
  skeletonDir?: string;
  /** `[[file_sync]]` entries, copied after the skeleton so they win. */
  fileSync?: FileSyncEntry[];
  /** The host home `~` in file_sync host paths expands to (default: the current user's). */
  hostHome?: string;
}

/**
 * Builds the tree of a VM's /root in `stagingDir`: the image's skeleton, then
 * the file_sync entries (directories recursively with their host modes, files
 * with `mode` or 0600, missing parents created 0700), then banger's key in
 * .ssh/authorized_keys (appended when a skeleton or file_sync entry already
 * provided the file, so the user's own lines stay). Last, the modes sshd's
 * StrictModes checks are normalised: /root 0700, .ssh 0700, authorized_keys
 * 0600. Every entry is validated before anything is copied, so a bad entry
 * fails with nothing half-staged beyond the directory itself.
 */
export async function stageWorkDisk(options: StageWorkDiskOptions): Promise<void> {
  const { stagingDir } = options;
  const entries = (options.fileSync ?? []).map((entry, index) => ({ entry, index, resolved: resolveFileSync(entry, index, options.hostHome) }));
  const sources = new Map<number, Awaited<ReturnType<typeof lstat>>>();
  for (const { entry, index, resolved } of entries) {
    try {
      sources.set(index, await lstat(resolved.host));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UserError(
        'FILE_SYNC_HOST_MISSING',
        `${describeEntry(entry, index)}: host path ${resolved.host} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
        { hint: 'create it, or remove the entry from config.toml', cause: error },
      );
    }
    const stat = sources.get(index);
    if (stat && !stat.isDirectory() && resolved.guestRelative === '') {
      throw new UserError('FILE_SYNC_GUEST_IS_ROOT', `${describeEntry(entry, index)}: a file cannot replace /root itself`, {
        hint: 'give the file a name under /root, e.g. guest = "~/name"',
      });
    }
  }

  await mkdir(stagingDir, { recursive: true, mode: 0o700 });
  if (options.skeletonDir) await copyTree(options.skeletonDir, stagingDir);

  for (const { entry, index, resolved } of entries) {
    const target = join(stagingDir, resolved.guestRelative);
    await mkdirPrivate(stagingDir, dirname(target));
    try {
      if (sources.get(index)?.isDirectory()) {
        await mkdirPrivate(stagingDir, target);
        await copyTree(resolved.host, target);
      } else {
        // Follow a symlinked host file: the user means its content (e.g. a dotfile managed by stow).
        await cp(resolved.host, target, { force: true, dereference: true });
        await chmod(target, resolved.mode ?? 0o600);
      }
    } catch (error) {
      throw new UserError('FILE_SYNC_COPY_FAILED', `${describeEntry(entry, index)}: copying ${resolved.host}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  const sshDir = join(stagingDir, '.ssh');
  const keysFile = join(sshDir, 'authorized_keys');
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  let existing = '';
  try {
    existing = await readFile(keysFile, 'utf8');
  } catch {
    existing = '';
  }
  const wanted = options.authorizedKeys.split('\n').map((l) => l.trim()).filter(Boolean);
  const present = new Set(existing.split('\n').map((l) => l.trim()));
  const missing = wanted.filter((l) => !present.has(l));
  const body = existing && !existing.endsWith('\n') ? `${existing}\n` : existing;
  await writeFile(keysFile, body + missing.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  await chmod(stagingDir, 0o700);
  await chmod(sshDir, 0o700);
  await chmod(keysFile, 0o600);
}

/** Copies a directory's content recursively, keeping modes and symlinks, skipping sockets and fifos. */
async function copyTree(from: string, to: string): Promise<void> {
  await cp(from, to, {
    recursive: true,
    force: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
    filter: async (source) => {
      const stat = await lstat(source);
      return stat.isFile() || stat.isDirectory() || stat.isSymbolicLink();
    },
  });
}

/** mkdir -p with 0700 for every directory it creates: synced credentials must not become world-readable. */
async function mkdirPrivate(root: string, dir: string): Promise<void> {
  if (dir === root || !dir.startsWith(root)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
}
