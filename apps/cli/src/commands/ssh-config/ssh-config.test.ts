import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findExecutable } from '@banger/host';
import { createHarness, type Harness } from '../../../test/harness.js';

let h: Harness;
const userConfig = (): string => join(h.home, '.ssh', 'config');
const includeFile = (): string => join(h.home, 'config', 'ssh', 'config');
const original = 'Host work\n    HostName work.example.com\n    User me\n';

beforeAll(async () => {
  h = await createHarness();
}, 120_000);

afterAll(async () => {
  await h?.dispose();
});

beforeEach(() => {
  h.freshHome();
  mkdirSync(join(h.home, '.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(userConfig(), original, { mode: 0o644 });
});

describe('banger ssh-config', () => {
  it('writes the include file but leaves ~/.ssh/config alone without consent and no terminal to ask on', async () => {
    const result = await h.banger(['ssh-config', 'install']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^banger: ssh-config install: not editing .*\.ssh\/config without your consent \(hint: re-run with --yes/m);
    expect(readFileSync(userConfig(), 'utf8')).toBe(original);
    expect(readFileSync(includeFile(), 'utf8')).toMatch(/^Host \*\.vm$/m);
    expect(statSync(includeFile()).mode & 0o777).toBe(0o600);
  });

  it('with --yes adds one Include line at the top, keeps the rest and the mode, and is idempotent', async () => {
    const first = await h.banger(['ssh-config', 'install', '--yes']);
    expect(first.exitCode, first.stderr).toBe(0);
    const text = readFileSync(userConfig(), 'utf8');
    expect(text).toBe(`# Added by \`banger ssh-config install\`\nInclude "${includeFile()}"\n\n${original}`);
    expect(statSync(userConfig()).mode & 0o777).toBe(0o644);
    const second = await h.banger(['ssh-config', 'install', '--yes']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already includes it/);
    expect(readFileSync(userConfig(), 'utf8')).toBe(text);
  });

  it.skipIf(!findExecutable('ssh'))('makes OpenSSH resolve any <vm>.vm host to root, banger\'s key and strict pinned host keys', async () => {
    expect((await h.banger(['ssh-config', 'install', '--yes'])).exitCode).toBe(0);
    const { stdout } = await execa('ssh', ['-G', '-F', userConfig(), 'sandbox.vm']);
    const settings = Object.fromEntries(stdout.split('\n').map((line) => [line.split(' ')[0], line.slice(line.indexOf(' ') + 1)]));
    expect(settings).toMatchObject({
      user: 'root',
      identityfile: join(h.home, 'config', 'ssh', 'id_ed25519'),
      identitiesonly: 'yes',
      userknownhostsfile: join(h.home, 'config', 'ssh', 'known_hosts'),
      stricthostkeychecking: 'true',
    });
    // Other hosts are untouched.
    const work = await execa('ssh', ['-G', '-F', userConfig(), 'work']);
    expect(work.stdout).toMatch(/^user me$/m);
  });

  it('uninstall removes exactly what install added, and the include file', async () => {
    expect((await h.banger(['ssh-config', 'install', '--yes'])).exitCode).toBe(0);
    const result = await h.banger(['ssh-config', 'uninstall']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(readFileSync(userConfig(), 'utf8')).toBe(original);
    expect(existsSync(includeFile())).toBe(false);
  });

  it('show --json says whether ~/.ssh/config includes the file', async () => {
    const before = JSON.parse((await h.banger(['ssh-config', 'show', '--json'])).stdout) as { included: boolean; includeFile: string; content: string };
    expect(before).toMatchObject({ included: false, includeFile: includeFile() });
    expect(before.content).toMatch(/StrictHostKeyChecking yes/);
    await h.banger(['ssh-config', 'install', '--yes']);
    expect(JSON.parse((await h.banger(['ssh-config', 'show', '--json'])).stdout)).toMatchObject({ included: true });
  });

  it.skipIf(!findExecutable('script'))('asks on a terminal and adds the line only after a yes', async () => {
    const launcher = join(h.binDir, 'banger');
    const ask = (answer: string) =>
      execa('script', ['-qec', `${launcher} ssh-config install`, '/dev/null'], { env: h.env, extendEnv: false, input: `${answer}\n`, reject: false, timeout: 30_000 });
    const no = await ask('n');
    expect(no.stdout).toMatch(/\[y\/N\]/);
    expect(readFileSync(userConfig(), 'utf8')).toBe(original);
    const yes = await ask('y');
    expect(yes.exitCode, yes.stdout).toBe(0);
    expect(readFileSync(userConfig(), 'utf8')).toMatch(/^Include "/m);
  });
});
