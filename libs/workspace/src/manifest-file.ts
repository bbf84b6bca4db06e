import { readFile } from 'node:fs/promises';
import { basename, posix, resolve } from 'node:path';
import { writeFileAtomic } from '@banger/host';
import type { Manifest } from './manifest.js';

/**
 * Reads a manifest saved by writeManifest. A missing, unreadable or corrupt
 * file yields undefined, which makes the next sync a full copy: always safe.
 */
export async function readManifest(path: string): Promise<Manifest | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Manifest> | null;
    if (parsed?.version !== 1 || typeof parsed.entries !== 'object' || parsed.entries === null) return undefined;
    return parsed as Manifest;
  } catch {
    return undefined;
  }
}

/** Saves a manifest atomically (0600), e.g. in the VM's state directory, keyed by workspace. */
export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(manifest), 0o600);
}

/** The guest directory of a host workspace: `/root/<basename of the repo>`. */
export function workspaceGuestDir(repoDir: string): string {
  return posix.join('/root', basename(resolve(repoDir)));
}
