import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../../../test/harness.js';
import { splitOperands } from './run.js';
import { guestCommandLine, guestShellLine } from './run/session.js';

describe('splitOperands', () => {
  const raw = (...args: string[]) => ['node', 'banger', 'vm', 'run', ...args];

  it('treats every word after -- as the command, even when there is no path', () => {
    expect(splitOperands(raw('--', 'uname', '-r'), 'uname', ['-r'])).toEqual({ path: undefined, command: ['uname', '-r'] });
  });

  it('keeps the operand before -- as the workspace path', () => {
    expect(splitOperands(raw('./repo', '--rm', '--', 'make', 'test'), './repo', ['make', 'test'])).toEqual({ path: './repo', command: ['make', 'test'] });
  });

  it('reads a lone operand as the path and no -- as no command', () => {
    expect(splitOperands(raw('./repo'), './repo', [])).toEqual({ path: './repo', command: [] });
    expect(splitOperands(raw('--name', 'run'), undefined, [])).toEqual({ path: undefined, command: [] });
  });

  it('refuses a second operand before --, naming it', () => {
    expect(() => splitOperands(raw('./repo', 'make'), './repo', ['make'])).toThrow('vm run: unexpected argument make');
    expect(() => splitOperands(raw('a', 'b', '--', 'c'), 'a', ['b', 'c'])).toThrow('vm run: unexpected argument b before --');
  });

  it('passes a word after -- that looks like an option through as the command', () => {
    expect(splitOperands(raw('--', '--help'), '--help', [])).toEqual({ path: undefined, command: ['--help'] });
  });
});

describe('guest command lines', () => {
  it('quotes each word so it reaches the guest unchanged, and enters the workspace first', () => {
    expect(guestCommandLine(['sh', '-c', 'exit 42'])).toBe(`sh -c 'exit 42'`);
    expect(guestCommandLine(['echo', "it's"], '/root/my repo')).toBe(`cd -- '/root/my repo' && exec echo 'it'\\''s'`);
    expect(guestShellLine('/root/repo')).toBe('cd -- /root/repo && exec "${SHELL:-/bin/sh}" -l');
  });
});

describe('banger vm run argument checks (before any VM exists)', () => {
  let h: Harness;
  let scratch: string;
  beforeAll(async () => {
    h = await createHarness();
    h.freshHome();
    scratch = mkdtempSync(join(tmpdir(), 'banger-run-'));
  }, 120_000);
  afterAll(async () => {
    if (h) await h.banger(['daemon', 'stop']);
    await h?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses --branch and --from without a workspace path with exit 1', async () => {
    const branch = await h.banger(['vm', 'run', '--branch', 'feature', '--', 'true']);
    expect(branch.exitCode).toBe(1);
    expect(branch.stderr).toBe('banger: vm run --branch feature: only applies to workspace mode (hint: pass the repository path: banger vm run ./repo --branch <name> [--from <ref>])\n');
    const from = await h.banger(['vm', 'run', '--from', 'HEAD~1']);
    expect(from.exitCode).toBe(1);
    expect(from.stderr).toMatch(/^banger: vm run --from HEAD~1: only applies to workspace mode/);
  });

  it('refuses --json for an interactive session', async () => {
    const result = await h.banger(['vm', 'run', '--json']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^banger: vm run --json: only for a command run without a terminal \(no command after --\)/);
  });

  it('names a workspace that is not a git repository before creating any VM', async () => {
    const plain = join(scratch, 'plain');
    mkdirSync(plain);
    const result = await h.banger(['vm', 'run', plain, '--', 'true']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^banger: workspace ${plain}: not a git repository \\(hint: .*git init`));
    const list = await h.banger(['vm', 'list', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});
