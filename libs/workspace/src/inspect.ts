import { basename, resolve } from 'node:path';
import { listWorkspaceFiles } from './list-files.js';
import { workspaceGuestDir } from './manifest-file.js';
import { needsMiseBootstrap } from './mise/bootstrap.js';

/** What a sync of a host repository would copy, learnt before any VM work starts. */
export interface WorkspaceInfo {
  /** The repository's top directory, absolute. */
  repoDir: string;
  /** Its basename: it names the guest directory, the manifest and the tooling log. */
  repoName: string;
  /** `/root/<repoName>`. */
  guestDir: string;
  /** How many files a full sync copies (tracked + untracked-not-ignored + .git). */
  files: number;
  /** True when .mise.toml, mise.toml or .tool-versions is present: the run bootstraps tooling. */
  miseConfig: boolean;
}

/**
 * Checks `repoDir` is the top of a git repository (UserErrors name what is
 * wrong) and counts what a sync copies. Read-only: `vm run ./repo` calls it
 * before any VM is created, so a bad path fails fast.
 */
export async function inspectWorkspace(repoDir: string): Promise<WorkspaceInfo> {
  const dir = resolve(repoDir);
  const files = await listWorkspaceFiles(dir);
  return { repoDir: dir, repoName: basename(dir), guestDir: workspaceGuestDir(dir), files: files.length, miseConfig: await needsMiseBootstrap(dir) };
}
