import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '@banger/errors';
import { checkPrivateDir, securePrivateDir } from './private-dir.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-private-dir-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const thrown = (fn: () => void): UserError => {
  try {
    fn();
  } catch (error) {
    return error as UserError;
  }
  throw new Error('expected a throw');
};

describe('securePrivateDir', () => {
  it('makes a directory of ours 0700', () => {
    const run = join(dir, 'run');
    mkdirSync(run, { mode: 0o777 });
    chmodSync(run, 0o777);
    securePrivateDir(run);
    expect(statSync(run).mode & 0o777).toBe(0o700);
  });

  it('refuses a symlink planted in its place and leaves the target as it was', () => {
    const target = join(dir, 'target');
    mkdirSync(target);
    chmodSync(target, 0o755);
    symlinkSync(target, join(dir, 'run'));
    const error = thrown(() => securePrivateDir(join(dir, 'run')));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe(`runtime directory ${join(dir, 'run')} cannot hold the daemon socket: it is a symlink`);
    expect(statSync(target).mode & 0o777).toBe(0o755);
  });

  it('refuses a file in its place', () => {
    writeFileSync(join(dir, 'run'), '');
    expect(thrown(() => securePrivateDir(join(dir, 'run'))).message).toBe(`runtime directory ${join(dir, 'run')} cannot hold the daemon socket: it is not a directory`);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory that belongs to another user, without changing its mode', () => {
    const run = join(dir, 'run');
    mkdirSync(run);
    chmodSync(run, 0o777);
    chownSync(run, 65534, 65534);
    expect(thrown(() => securePrivateDir(run)).message).toBe(`runtime directory ${run} cannot hold the daemon socket: it belongs to uid 65534, not to you (uid 0)`);
    expect(statSync(run).mode & 0o777).toBe(0o777);
  });
});

describe('checkPrivateDir', () => {
  it('accepts a missing directory and one of ours', () => {
    expect(() => checkPrivateDir(join(dir, 'missing'))).not.toThrow();
    expect(() => checkPrivateDir(dir)).not.toThrow();
  });

  it('refuses a symlink, so the CLI never connects to a socket someone else placed', () => {
    symlinkSync(dir, join(dir, 'run'));
    expect(thrown(() => checkPrivateDir(join(dir, 'run'))).message).toBe(`runtime directory ${join(dir, 'run')} cannot hold the daemon socket: it is a symlink`);
  });
});
