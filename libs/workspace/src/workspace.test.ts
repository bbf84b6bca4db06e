import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile, lstat, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { UserError } from '@banger/errors';
import { prepareSshd, sshdUnavailable, type TestSshd } from '@banger/ssh/testing';
import { openSshSession, type SshSession } from '@banger/ssh';
import { sshGuestExec, type GuestExec } from './guest-exec.js';
import { listWorkspaceFiles } from './list-files.js';
import { buildManifest, diffManifests } from './manifest.js';
import { readManifest, workspaceGuestDir, writeManifest } from './manifest-file.js';
import { syncWorkspace } from './sync.js';
import { interpretBranchResult, workspaceGitCommands } from './git-branch.js';

const git = (cwd: string, ...args: string[]) => execa('git', args, { cwd, env: { GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z' } });

/** A repo with a committed, an untracked and an ignored file, and two commits. */
async function makeRepo(parent: string): Promise<string> {
  const repo = join(parent, 'repo');
  await mkdir(join(repo, 'src'), { recursive: true });
  await git(repo, 'init', '-q', '-b', 'main');
  await git(repo, 'config', 'user.email', 't@example.com');
  await git(repo, 'config', 'user.name', 'T');
  await writeFile(join(repo, 'README.md'), 'first\n');
  await git(repo, 'add', '.');
  await git(repo, 'commit', '-q', '-m', 'one');
  await writeFile(join(repo, 'src', 'main.sh'), '#!/bin/sh\necho main\n');
  await chmod(join(repo, 'src', 'main.sh'), 0o755);
  await writeFile(join(repo, 'committed.txt'), 'committed\n');
  await writeFile(join(repo, 'to-delete.txt'), 'bye\n');
  await writeFile(join(repo, '.gitignore'), 'ignored.log\n');
  await symlink('src/main.sh', join(repo, 'run'));
  await git(repo, 'add', '.');
  await git(repo, 'commit', '-q', '-m', 'two');
  await writeFile(join(repo, 'untracked.txt'), 'untracked\n');
  await writeFile(join(repo, 'ignored.log'), 'noise\n');
  await mkdir(join(repo, 'deep', 'er'), { recursive: true });
  await writeFile(join(repo, 'deep', 'er', 'file with spaces & "quotes".txt'), 'odd name\n');
  return repo;
}

describe('listWorkspaceFiles', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-ws-list-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  it('lists tracked and untracked files but not ignored ones, plus the whole .git', async () => {
    const repo = await makeRepo(dir);
    await rm(join(repo, 'to-delete.txt'));
    const files = await listWorkspaceFiles(repo);
    expect(files).toContain('README.md');
    expect(files).toContain('untracked.txt');
    expect(files).toContain('run');
    expect(files).toContain('deep/er/file with spaces & "quotes".txt');
    expect(files).toContain('.git/HEAD');
    expect(files).not.toContain('ignored.log');
    expect(files).not.toContain('to-delete.txt');
  });

  it('refuses a directory that is not a git repository, naming it', async () => {
    const plain = join(dir, 'plain');
    await mkdir(plain);
    const error = (await listWorkspaceFiles(plain).catch((e: unknown) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`workspace ${plain}: not a git repository`);
  });

  it('refuses a subdirectory of a repository and points at its top', async () => {
    const repo = await makeRepo(dir);
    await expect(listWorkspaceFiles(join(repo, 'src'))).rejects.toThrow(`is inside the git repository ${repo}, not its top`);
  });
});

describe('manifests', () => {
  it('reuses checksums of unchanged files and ignores a touch that keeps the content', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-ws-manifest-'));
    try {
      const { utimes } = await import('node:fs/promises');
      const touch = (name: string, seconds: number) => utimes(join(dir, name), seconds, seconds);
      await writeFile(join(dir, 'a'), 'same');
      await writeFile(join(dir, 'b'), 'before');
      await touch('a', 1_000);
      await touch('b', 1_000);
      const first = await buildManifest(dir, ['a', 'b']);
      expect(diffManifests(undefined, first).changed).toEqual(['a', 'b']);
      expect(first.entries['a']?.sha256).toBeUndefined(); // new files are sent, not hashed

      await writeFile(join(dir, 'b'), 'after!'); // same size, new content
      await touch('b', 2_000);
      const second = await buildManifest(dir, ['a', 'b'], first);
      expect(diffManifests(first, second)).toEqual({ changed: ['b'], deleted: [] });

      await touch('b', 3_000); // touched, content unchanged
      const third = await buildManifest(dir, ['a', 'b'], second);
      expect(third.entries['b']?.sha256).toBe(second.entries['b']?.sha256);
      expect(diffManifests(second, third)).toEqual({ changed: [], deleted: [] });
      expect(diffManifests(third, await buildManifest(dir, ['a'], third))).toEqual({ changed: [], deleted: ['b'] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A GuestExec that runs `replace(command)` on this host: stands in for a guest whose tar fails. */
function localExec(replace: (command: string) => string): GuestExec {
  return async (command, io = {}) => {
    const { spawn } = await import('node:child_process');
    const child = spawn('sh', ['-c', replace(command)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.on('error', () => undefined);
    const input = io.stdin;
    if (input === undefined) child.stdin.end();
    else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input);
    else {
      input.on('error', () => undefined);
      input.pipe(child.stdin);
    }
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    return { exitCode, stdout, stderr };
  };
}

describe('syncWorkspace when the guest fails', () => {
  it('reports the guest tar error instead of hanging when tar stops reading early', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-ws-fail-'));
    try {
      const repo = await makeRepo(dir);
      const { randomBytes } = await import('node:crypto');
      await writeFile(join(repo, 'big.bin'), randomBytes(8 * 1024 * 1024));
      const exec = localExec((command) => (command.includes('tar -x') ? 'echo "tar: write error: No space left on device" >&2; exit 2' : command));
      // Counted before the sync starts: awaiting it inside toThrow's argument would leave the
      // sync's rejection unhandled for as long as git takes, which vitest reports as an error.
      const fileCount = (await listWorkspaceFiles(repo)).length;
      await expect(syncWorkspace({ exec, repoDir: repo, guestDir: join(dir, 'guest') })).rejects.toThrow(
        `workspace sync: extracting ${fileCount} files into ${join(dir, 'guest')} failed in the guest: tar: write error: No space left on device`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('stored manifests', () => {
  it('round-trip through a file and read as absent when missing or corrupt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'banger-ws-store-'));
    try {
      const manifest = { version: 1 as const, entries: { a: { type: 'file' as const, size: 1, mtimeMs: 2, mode: 0o644 } } };
      await writeManifest(join(dir, 'm.json'), manifest);
      expect(await readManifest(join(dir, 'm.json'))).toEqual(manifest);
      expect(await readManifest(join(dir, 'missing.json'))).toBeUndefined();
      await writeFile(join(dir, 'bad.json'), '{"version": 1, "entr');
      expect(await readManifest(join(dir, 'bad.json'))).toBeUndefined();
      expect(workspaceGuestDir('/home/me/src/my-repo/')).toBe('/root/my-repo');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(sshdUnavailable())('syncWorkspace through a real sshd', () => {
  let dir: string;
  let sshd: TestSshd;
  let session: SshSession;
  let exec: GuestExec;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-ws-sync-'));
    sshd = await prepareSshd(await mkdtemp(join(dir, 'sshd-')));
    await sshd.start();
    session = await openSshSession({ host: '127.0.0.1', port: sshd.port, privateKey: sshd.userKey.privateKey, hostKey: sshd.hostKey.publicKey });
    exec = sshGuestExec(session);
  });
  afterAll(async () => {
    session?.close();
    await sshd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('copies the workspace, then re-sends only what changed and deletes what was removed', async () => {
    const repo = await makeRepo(dir);
    const guestDir = join(dir, 'guest', 'repo');
    const lines: string[] = [];

    const first = await syncWorkspace({ exec, repoDir: repo, guestDir, progress: { line: (l) => lines.push(l) } });

    expect(first.transferred.files).toBe((await listWorkspaceFiles(repo)).length);
    expect(await readFile(join(guestDir, 'committed.txt'), 'utf8')).toBe('committed\n');
    expect(await readFile(join(guestDir, 'untracked.txt'), 'utf8')).toBe('untracked\n');
    expect(await readFile(join(guestDir, 'deep', 'er', 'file with spaces & "quotes".txt'), 'utf8')).toBe('odd name\n');
    await expect(lstat(join(guestDir, 'ignored.log'))).rejects.toThrow();
    expect((await lstat(join(guestDir, 'src', 'main.sh'))).mode & 0o777).toBe(0o755);
    expect((await lstat(join(guestDir, 'run'))).isSymbolicLink()).toBe(true);
    const status = await git(guestDir, 'status', '--porcelain');
    expect(status.stdout.trim()).toBe('?? deep/\n?? untracked.txt');
    expect((await git(guestDir, 'rev-parse', 'HEAD')).stdout).toBe((await git(repo, 'rev-parse', 'HEAD')).stdout);
    expect(lines[0]).toMatch(/^workspace: \d+ changed, 0 deleted of \d+ files$/);

    await writeFile(join(repo, 'committed.txt'), 'edited\n');
    await rm(join(repo, 'deep', 'er', 'file with spaces & "quotes".txt'));
    const second = await syncWorkspace({ exec, repoDir: repo, guestDir, previous: first.manifest });

    expect(second.transferred).toEqual({ files: 1, bytes: 'edited\n'.length });
    expect(second.deleted).toEqual(['deep/er/file with spaces & "quotes".txt']);
    expect(await readFile(join(guestDir, 'committed.txt'), 'utf8')).toBe('edited\n');
    expect(await readdir(guestDir)).not.toContain('deep');

    const third = await syncWorkspace({ exec, repoDir: repo, guestDir, previous: second.manifest });
    expect(third.transferred).toEqual({ files: 0, bytes: 0 });
    expect(third.deleted).toEqual([]);
  });

  it('streams big files and long paths byte-exact', async () => {
    const parent = await mkdtemp(join(dir, 'big-'));
    const repo = await makeRepo(parent);
    const { randomBytes } = await import('node:crypto');
    const big = randomBytes(3 * 1024 * 1024 + 17);
    const longDir = join(repo, 'a'.repeat(60), 'b'.repeat(60));
    await mkdir(longDir, { recursive: true });
    await writeFile(join(longDir, `${'c'.repeat(80)}.bin`), big);
    const guestDir = join(parent, 'guest');
    const result = await syncWorkspace({ exec, repoDir: repo, guestDir });
    const copied = await readFile(join(guestDir, 'a'.repeat(60), 'b'.repeat(60), `${'c'.repeat(80)}.bin`));
    expect(copied.equals(big)).toBe(true);
    expect(result.transferred.bytes).toBeGreaterThan(big.length);
  });

  it('puts the guest copy on a new branch at the requested commit', async () => {
    const parent = await mkdtemp(join(dir, 'branch-'));
    const repo = await makeRepo(parent);
    const guestDir = join(parent, 'guest');
    await syncWorkspace({ exec, repoDir: repo, guestDir });
    const options = { branch: 'feature', from: 'HEAD~1' };
    const script = workspaceGitCommands(guestDir, options);
    expect(script).toBeDefined();
    interpretBranchResult(await exec(script as string), options);
    expect((await git(guestDir, 'rev-parse', '--abbrev-ref', 'HEAD')).stdout).toBe('feature');
    expect((await git(guestDir, 'rev-parse', 'HEAD')).stdout).toBe((await git(repo, 'rev-parse', 'HEAD~1')).stdout);
    // The host repository is untouched.
    expect((await git(repo, 'rev-parse', '--abbrev-ref', 'HEAD')).stdout).toBe('main');
  });

  it('names a --from ref that does not exist and a bad branch name', async () => {
    const parent = await mkdtemp(join(dir, 'branch-bad-'));
    const repo = await makeRepo(parent);
    const guestDir = join(parent, 'guest');
    await syncWorkspace({ exec, repoDir: repo, guestDir });
    const missing = { branch: 'feature', from: 'no-such-ref' };
    expect(() => interpretBranchResult({ exitCode: 0, stdout: '', stderr: '' }, missing)).not.toThrow();
    const result = await exec(workspaceGitCommands(guestDir, missing) as string);
    expect(() => interpretBranchResult(result, missing)).toThrow('--from no-such-ref: no such commit in the repository');
    const bad = { branch: 'bad..name' };
    expect(() => interpretBranchResult({ exitCode: 90, stdout: '', stderr: '' }, bad)).toThrow('--branch bad..name: not a valid branch name');
    const badResult = await exec(workspaceGitCommands(guestDir, bad) as string);
    expect(badResult.exitCode).toBe(90);
  });

  it('asks for --branch when only --from is given, and does nothing without either', () => {
    expect(() => workspaceGitCommands('/root/repo', { from: 'HEAD~1' })).toThrow('--from HEAD~1: needs --branch');
    expect(workspaceGitCommands('/root/repo', {})).toBeUndefined();
  });
});
