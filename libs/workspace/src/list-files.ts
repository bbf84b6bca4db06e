import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UserError } from '@banger/errors';
import { run } from '@banger/host';

/**
 * The files `vm run ./repo` copies, as POSIX paths relative to the repo root,
 * sorted: what `git ls-files -z --cached --others --exclude-standard` lists
 * (tracked files plus untracked files that are not ignored), minus tracked
 * files deleted from the working tree and submodule directories, plus every
 * file under `.git` so the guest copy is a working repository.
 *
 * A directory that is not the top of a git work tree is a UserError naming
 * it: copying a whole arbitrary directory (node_modules, build output, a home
 * directory) is too easy to do by accident. Linked worktrees and submodule
 * checkouts (whose `.git` is a file pointing elsewhere) are refused too,
 * because the guest would get a `.git` pointing at a host path.
 */
export async function listWorkspaceFiles(repoDir: string): Promise<string[]> {
  const dir = resolve(repoDir);
  const stat = await lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new UserError('WORKSPACE_NOT_FOUND', `workspace ${repoDir}: not a directory`, { hint: 'pass the path of a git repository' });
  }
  const top = await run('git', ['-C', dir, 'rev-parse', '--show-toplevel'], { allowFailure: true });
  if (top.exitCode !== 0) {
    throw new UserError('WORKSPACE_NOT_GIT', `workspace ${repoDir}: not a git repository`, {
      hint: `vm run copies what git tracks plus untracked files it does not ignore; run \`git init\` in ${repoDir} first`,
    });
  }
  const root = top.stdout.trim();
  if (resolve(root) !== dir) {
    throw new UserError('WORKSPACE_NOT_TOP', `workspace ${repoDir}: is inside the git repository ${root}, not its top`, {
      hint: `pass the repository root: banger vm run ${root}`,
    });
  }
  const gitDir = await lstat(join(dir, '.git')).catch(() => undefined);
  if (!gitDir?.isDirectory()) {
    throw new UserError('WORKSPACE_GIT_LINK', `workspace ${repoDir}: .git is a link to another directory (a worktree or submodule)`, {
      hint: 'run vm run on a regular clone',
    });
  }

  const listed = await run('git', ['-C', dir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  // Names are decoded as UTF-8: a file name that is not valid UTF-8 is not copied (lstat misses it).
  const names = [...new Set(listed.stdout.split('\0').filter(Boolean))];
  const files: string[] = [];
  // Batches of lstat calls: one at a time is slow on a cold cache for 20 000 files.
  for (let start = 0; start < names.length; start += 256) {
    const batch = names.slice(start, start + 256);
    const stats = await Promise.all(batch.map((name) => lstat(join(dir, name)).catch(() => undefined)));
    batch.forEach((name, i) => {
      const entry = stats[i];
      // Missing: tracked but deleted in the work tree. Directory: a submodule (gitlink).
      if (entry && (entry.isFile() || entry.isSymbolicLink())) files.push(name);
    });
  }
  files.push(...(await walk(join(dir, '.git'), '.git')));
  return files.sort();
}

/** Regular files and symlinks under `dir`, as paths prefixed with `prefix`. */
async function walk(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory()) found.push(...(await walk(join(dir, entry.name), path)));
    else if (entry.isFile() || entry.isSymbolicLink()) found.push(path);
  }
  return found;
}
