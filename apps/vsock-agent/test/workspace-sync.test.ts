// Workspace sync (`vm run ./repo`) through a real agent process: the host side
// of @banger/workspace streams its tar into `tar -x` run by the agent, over
// the agent protocol on a Unix socket, into a real directory. What a guest
// would get, checked file by file: bytes, modes, symlinks, deletions on a
// re-sync, odd names, a large file.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentClient } from '@banger/agent';
import { agentGuestExec, syncWorkspace, type Manifest } from '@banger/workspace';
import { startAgent, type AgentProcess } from './agent-process.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Every file and symlink under dir (not .git's insides compared by content only): path → what a user would compare. */
function describeTree(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = join(dir, rel);
    const stat = lstatSync(full);
    if (entry.isDirectory()) Object.assign(out, describeTree(dir, rel));
    else if (entry.isSymbolicLink()) out[rel] = `link → ${readlinkSync(full)}`;
    else out[rel] = `file ${(stat.mode & 0o7777).toString(8)} ${stat.size} ${sha256(readFileSync(full))} mtime ${Math.floor(stat.mtimeMs / 1000)}`;
  }
  return out;
}

const git = (repo: string, ...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

describe('workspace sync through the guest agent (real agent process, Unix socket)', () => {
  let agent: AgentProcess;
  let client: AgentClient;
  let work: string;
  let repo: string;
  let guest: string;
  let manifest: Manifest;
  const big = randomBytes(48 * 1024 * 1024);

  beforeAll(async () => {
    agent = await startAgent();
    client = await agent.connect();
    work = mkdtempSync(join(tmpdir(), 'banger-agent-sync-'));
    repo = join(work, 'repo');
    guest = join(work, 'guest', 'repo');
    mkdirSync(join(repo, 'src', 'deep', 'er'), { recursive: true });
    git(repo, 'init', '-q');
    writeFileSync(join(repo, 'README.md'), '# hello\n');
    writeFileSync(join(repo, 'run.sh'), '#!/bin/sh\necho run\n');
    chmodSync(join(repo, 'run.sh'), 0o755);
    writeFileSync(join(repo, 'private.key'), 'secret\n');
    chmodSync(join(repo, 'private.key'), 0o600);
    writeFileSync(join(repo, 'empty'), '');
    writeFileSync(join(repo, 'line\nbreak.txt'), 'a name with a newline\n');
    writeFileSync(join(repo, 'spaces and ünïcödé.txt'), 'odd name\n');
    writeFileSync(join(repo, 'src', 'deep', 'er', 'gone-later.c'), 'int x;\n');
    writeFileSync(join(repo, 'src', 'keep.c'), 'int y;\n');
    writeFileSync(join(repo, 'big.bin'), big);
    symlinkSync('README.md', join(repo, 'link-to-readme'));
    symlinkSync('/nonexistent/target', join(repo, 'dangling'));
    writeFileSync(join(repo, '.gitignore'), 'ignored.log\n');
    writeFileSync(join(repo, 'ignored.log'), 'not copied\n');
    utimesSync(join(repo, 'README.md'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'first');
    writeFileSync(join(repo, 'untracked.txt'), 'untracked but not ignored\n');
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const expected = () => {
    const tree = describeTree(repo);
    delete tree['ignored.log'];
    return tree;
  };

  it('copies the workspace byte for byte: modes, mtimes, symlinks, odd names, a 48 MiB file, .git', async () => {
    const started = performance.now();
    const result = await syncWorkspace({ exec: agentGuestExec(client), repoDir: repo, guestDir: guest });
    const seconds = (performance.now() - started) / 1000;
    console.log(`first sync through the agent: ${result.transferred.files} files, ${(result.transferred.bytes / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(2)} s`);
    manifest = result.manifest;
    expect(describeTree(guest)).toEqual(expected());
    expect(readFileSync(join(guest, 'line\nbreak.txt'), 'utf8')).toBe('a name with a newline\n');
    expect(sha256(readFileSync(join(guest, 'big.bin')))).toBe(sha256(big));
    expect(lstatSync(join(guest, 'run.sh')).mode & 0o777).toBe(0o755);
    expect(lstatSync(join(guest, 'private.key')).mode & 0o777).toBe(0o600);
    expect(readlinkSync(join(guest, 'dangling'))).toBe('/nonexistent/target');
    expect(() => lstatSync(join(guest, 'ignored.log'))).toThrow();
    expect(git(guest, 'status', '--porcelain').toString()).toBe('?? untracked.txt\n');
  }, 120_000);

  it('re-syncs only what changed, and removes what was deleted (with the directories it empties)', async () => {
    rmSync(join(repo, 'src', 'deep'), { recursive: true });
    rmSync(join(repo, 'line\nbreak.txt'));
    writeFileSync(join(repo, 'README.md'), '# hello, again\n');
    chmodSync(join(repo, 'private.key'), 0o640);
    rmSync(join(repo, 'link-to-readme'));
    symlinkSync('run.sh', join(repo, 'link-to-readme'));
    writeFileSync(join(repo, 'new\nline too'), 'new\n');
    // Touched, same content: not sent again.
    utimesSync(join(repo, 'src', 'keep.c'), new Date(), new Date());
    const result = await syncWorkspace({ exec: agentGuestExec(client), repoDir: repo, guestDir: guest, previous: manifest });
    expect(result.deleted.sort()).toEqual(['line\nbreak.txt', 'src/deep/er/gone-later.c']);
    expect(result.transferred.files).toBeLessThan(10 + readdirSync(join(repo, '.git', 'objects')).length * 4); // .git changed files too
    expect(Object.keys(result.manifest.entries).filter((p) => !p.startsWith('.git/'))).not.toContain('src/deep/er/gone-later.c');
    const sent = result.transferred.bytes;
    expect(sent).toBeLessThan(big.length); // the big file was not sent again
    const tree = expected();
    // keep.c's mtime is the one difference: it was not re-sent (same content), by design.
    const guestTree = describeTree(guest);
    expect(guestTree['src/keep.c']?.replace(/ mtime \d+$/, '')).toBe(tree['src/keep.c']?.replace(/ mtime \d+$/, ''));
    // `git status` in the guest (first test) refreshed the guest's index: a guest-side change, kept by design.
    for (const path of ['src/keep.c', '.git/index']) {
      delete tree[path];
      delete guestTree[path];
    }
    expect(guestTree).toEqual(tree);
    expect(() => lstatSync(join(guest, 'src', 'deep'))).toThrow();
    expect(readlinkSync(join(guest, 'link-to-readme'))).toBe('run.sh');
  }, 120_000);

  it('reports a failed extraction with the guest tar status, and a cancelled sync as cancelled', async () => {
    const blocked = join(work, 'guest', 'not-a-dir');
    writeFileSync(blocked, 'a file where the copy should go\n');
    await expect(syncWorkspace({ exec: agentGuestExec(client), repoDir: repo, guestDir: blocked })).rejects.toThrow(/not-a-dir/);
    const controller = new AbortController();
    controller.abort();
    await expect(agentGuestExec(client)('sleep 5', { signal: controller.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    // The connection still serves the next command.
    expect((await agentGuestExec(client)('echo ok', {})).stdout).toBe('ok\n');
  }, 60_000);
});
