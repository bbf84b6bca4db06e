import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { miseBootstrapCommand, miseBootstrapScript, miseCommandPrefix, miseLockPath, miseLogPath, needsMiseBootstrap } from './bootstrap.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-mise-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake `mise` that logs its arguments and fails `install` like an offline guest would. */
async function fakeMise(): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(
    join(bin, 'mise'),
    '#!/bin/sh\necho "fake-mise $*"\nif [ "$1" = install ]; then echo "mise ERROR failed to download node: network unreachable" >&2; exit 1; fi\nexit 0\n',
    { mode: 0o755 },
  );
  return bin;
}

describe('mise bootstrap', () => {
  it('is needed only when the repository has a mise config', async () => {
    expect(await needsMiseBootstrap(dir)).toBe(false);
    await writeFile(join(dir, '.tool-versions'), 'node 20\n');
    expect(await needsMiseBootstrap(dir)).toBe(true);
  });

  it('logs the attempt and why mise install failed, and still exits 0', async () => {
    const repo = join(dir, 'repo');
    await mkdir(repo);
    await writeFile(join(repo, '.mise.toml'), '[tools]\nnode = "20"\n');
    const bin = await fakeMise();
    const logDir = join(dir, 'cache');
    const script = miseBootstrapScript({ repoName: 'repo', guestDir: repo, logDir });
    const result = await execa('sh', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin` }, reject: false });
    expect(result.exitCode).toBe(0);
    const log = await readFile(miseLogPath('repo', logDir), 'utf8');
    expect(log).toContain('fake-mise trust --all');
    expect(log).toContain('fake-mise install');
    expect(log).toContain('network unreachable');
    expect(log).toMatch(/mise install failed \(exit status 1\)/);
  });

  it('logs that mise is missing instead of failing', async () => {
    const repo = join(dir, 'repo');
    await mkdir(repo);
    await writeFile(join(repo, '.tool-versions'), 'node 20\n');
    const logDir = join(dir, 'cache');
    const result = await execa('sh', ['-c', miseBootstrapScript({ repoName: 'my repo', guestDir: repo, logDir })], {
      env: { PATH: '/usr/bin:/bin' },
      reject: false,
    });
    expect(result.exitCode).toBe(0);
    expect(miseLogPath('my repo', logDir)).toBe(`${logDir}/vm-run-tooling-my_repo.log`);
    expect(await readFile(miseLogPath('my repo', logDir), 'utf8')).toMatch(/mise is not installed in this image/);
  });

  it('starts in the background and returns at once', async () => {
    const repo = join(dir, 'repo');
    await mkdir(repo);
    await writeFile(join(repo, '.mise.toml'), '');
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'mise'), '#!/bin/sh\nif [ "$1" = install ]; then sleep 2; fi\necho "slow $1"\n', { mode: 0o755 });
    const logDir = join(dir, 'cache');
    const started = Date.now();
    const result = await execa('sh', ['-c', miseBootstrapCommand({ repoName: 'repo', guestDir: repo, logDir })], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(result.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(1_500);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(await readFile(miseLogPath('repo', logDir), 'utf8')).toContain('tooling bootstrap finished');
  }, 15_000);

  it('makes a command started right after it wait for the install, then find the installed tool first on PATH', async () => {
    const repo = join(dir, 'repo');
    await mkdir(repo);
    await writeFile(join(repo, '.mise.toml'), '[tools]\nnode = "20.20.2"\n');
    const home = join(dir, 'home');
    const bin = join(dir, 'bin');
    await mkdir(bin);
    // A slow `mise install` that leaves a `node` shim, as the real one does.
    await writeFile(
      join(bin, 'mise'),
      `#!/bin/sh\nif [ "$1" = install ]; then sleep 2; mkdir -p "$HOME/.local/share/mise/shims"; printf '#!/bin/sh\\necho v20.20.2\\n' > "$HOME/.local/share/mise/shims/node"; chmod +x "$HOME/.local/share/mise/shims/node"; fi\n`,
      { mode: 0o755 },
    );
    const logDir = join(dir, 'cache');
    const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: home };
    await execa('sh', ['-c', miseBootstrapCommand({ repoName: 'repo', guestDir: repo, logDir })], { env });
    const started = Date.now();
    const command = await execa('sh', ['-c', `cd ${repo} && ${miseCommandPrefix(miseLockPath('repo', logDir))}exec node --version`], { env });
    expect(command.stdout).toBe('v20.20.2');
    expect(Date.now() - started).toBeGreaterThan(1_000);
    expect(await readFile(miseLogPath('repo', logDir), 'utf8')).toContain('tooling bootstrap finished');
  }, 15_000);
});
