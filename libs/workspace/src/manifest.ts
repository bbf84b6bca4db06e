import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from '@banger/errors';

/** What banger knows about one synced file. */
export interface ManifestEntry {
  type: 'file' | 'symlink';
  size: number;
  mtimeMs: number;
  /** Permission bits (0o644, 0o755…). */
  mode: number;
  /** sha256 of a regular file's content (hex), computed once the file changed after a sync. */
  sha256?: string;
  /** A symlink's target, as written. */
  target?: string;
}

/**
 * The state of a workspace as last sent to a guest, keyed by POSIX path
 * relative to the repo root. The caller stores it per VM (host side) and
 * passes it back as `previous` on the next sync; it is plain JSON.
 */
export interface Manifest {
  version: 1;
  entries: Record<string, ManifestEntry>;
}

/**
 * Describes `files` (from listWorkspaceFiles). A file is read and hashed only
 * when `previous` knows it and its size, mtime or mode changed, so a re-sync of
 * a 20 000-file repository costs a `stat` per file, and a touched file with the
 * same content is not re-sent. New files are not hashed (they are sent anyway).
 * `stats`: the listing's `lstat`s (listWorkspace), used instead of a second one.
 */
export async function buildManifest(repoDir: string, files: readonly string[], previous?: Manifest, stats?: ReadonlyMap<string, Stats>): Promise<Manifest> {
  const entries: Record<string, ManifestEntry> = {};
  // A few files in flight: overlapped reads without opening 20 000 descriptors at once.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const path = files[next++] as string;
      const entry = await describe(join(repoDir, path), previous?.entries[path], stats?.get(path)).catch((error: unknown) => {
        throw new UserError('WORKSPACE_FILE_UNREADABLE', `workspace ${repoDir}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
          hint: 'fix its permissions, or add it to .gitignore',
          cause: error,
        });
      });
      if (entry) entries[path] = entry;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const sorted: Record<string, ManifestEntry> = {};
  for (const path of Object.keys(entries).sort()) sorted[path] = entries[path] as ManifestEntry;
  return { version: 1, entries: sorted };
}

async function describe(full: string, before: ManifestEntry | undefined, listed: Stats | undefined): Promise<ManifestEntry | undefined> {
  const stat = listed ?? (await lstat(full).catch(() => undefined));
  if (!stat) return undefined; // deleted since it was listed
  const mode = stat.mode & 0o7777;
  if (stat.isSymbolicLink()) {
    return { type: 'symlink', size: stat.size, mtimeMs: stat.mtimeMs, mode, target: await readlink(full) };
  }
  if (!stat.isFile()) return undefined;
  // Hash only files that changed since the last sync: a first sync sends everything anyway, and a
  // later one must tell a real edit from a touch (checkout, build tools) before re-sending.
  const unchanged = before?.type === 'file' && before.size === stat.size && before.mtimeMs === stat.mtimeMs && before.mode === mode;
  const sha256 = unchanged ? before.sha256 : before ? await hashFile(full, stat.size) : undefined;
  return { type: 'file', size: stat.size, mtimeMs: stat.mtimeMs, mode, ...(sha256 ? { sha256 } : {}) };
}

async function hashFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  // One read for small files: a stream per file costs more than the hashing on a 20 000-file repo.
  if (size <= 1024 * 1024) hash.update(await readFile(path));
  else await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** What a sync must do to turn the guest copy described by `previous` into `next`. */
export interface ManifestDiff {
  /** Paths to send: new, or different in content, mode, type or link target. */
  changed: string[];
  /** Paths to remove from the guest. */
  deleted: string[];
}

/** Compares two manifests; an mtime change with identical content is not a change. */
export function diffManifests(previous: Manifest | undefined, next: Manifest): ManifestDiff {
  const before = previous?.entries ?? {};
  const changed: string[] = [];
  for (const [path, entry] of Object.entries(next.entries)) {
    const old = before[path];
    if (
      !old ||
      old.type !== entry.type ||
      old.mode !== entry.mode ||
      old.size !== entry.size ||
      old.sha256 !== entry.sha256 ||
      old.target !== entry.target
    ) {
      changed.push(path);
    }
  }
  const deleted = Object.keys(before).filter((path) => !(path in next.entries));
  return { changed: changed.sort(), deleted: deleted.sort() };
}
