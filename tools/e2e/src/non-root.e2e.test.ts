import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const BOOT_MS = 8 * 60_000;

/**
 * The sudoers lines of docs/privileges.md for `user`, the command paths
 * replaced by this host's (`command -v`), as the doc tells users to do.
 */
function documentedSudoers(user: string, leaveOut?: string): string {
  const doc = readFileSync(join(repoRoot, 'docs/privileges.md'), 'utf8');
  const block = /```\n(# \/etc\/sudoers\.d\/banger[\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/privileges.md has no sudoers example');
  return (
    block
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) =>
        line
          .replace(/^ada /, `${user} `)
          .split(/,\s*/)
          .filter((part) => !leaveOut || !part.includes(`/${leaveOut}`))
          .map((part) => part.replace(/\/(?:usr\/)?s?bin\/([\w.-]+)/g, (_m, tool: string) => findExecutable(tool) ?? `/usr/sbin/${tool}`))
          .join(', '),
      )
      .join('\n') + '\n'
  );
}

/**
 * The first run as a user who is not root, with exactly the sudoers rule
 * docs/privileges.md gives: bangerd runs as that user and reaches root only
 * through `sudo -n` for the bridge, taps, NAT and ip_forward. Runs inside the
 * throwaway netns (netns-run.sh, as root), then switches to the user.
 */
/**
 * The bundles as `make install` lays them out, in a directory every user can
 * read: the checkout may sit under a 0700 directory (`mktemp -d`), where the
 * test user could reach neither the bundles nor the node_modules their native
 * addons load from. Removes the build dir; returns the installed one.
 */
async function installForEveryone(buildDir: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bnr-install-'));
  chmodSync(dir, 0o755);
  cpSync(buildDir, dir, { recursive: true });
  rmSync(buildDir, { recursive: true, force: true });
  writeFileSync(join(dir, 'package.json'), '{ "name": "banger-installed", "private": true, "type": "module" }\n');
  await run(process.execPath, [join(repoRoot, 'apps/cli/scripts/stage-node-modules.mjs'), dir, 'better-sqlite3', 'ssh2', 'cpu-features']);
  await run('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

describe.skipIf(!process.env['BANGER_NETNS'])('the first run as a non-root user with the documented sudoers rule', () => {
  const user = `bngr${randomBytes(3).toString('hex')}`;
  const sudoersFile = `/etc/sudoers.d/${user}`;
  let home: BangerHome;
  let binDir: string;

  const asUser = (args: string[], timeoutMs = BOOT_MS): Promise<CliResult> =>
    new Promise((resolvePromise, reject) => {
      const env = { ...home.env(), HOME: home.home, USER: user, LOGNAME: user };
      const vars = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
      const child = spawn('runuser', ['-u', user, '--', 'env', '-i', ...vars, process.execPath, join(binDir, 'banger.cjs'), ...args], {
        // In the user's home, as a login would: this test's cwd may be a checkout they cannot enter (sudo -l then fails).
        cwd: home.home,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolvePromise({ exitCode: code ?? (signal ? 128 : -1), stdout, stderr });
      });
    });
  const writeSudoers = async (text: string): Promise<void> => {
    writeFileSync(sudoersFile, text, { mode: 0o440 });
    await run('visudo', ['-c', '-q', '-f', sudoersFile]);
  };

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('this test creates a user: run the e2e suite as root (netns-run.sh)');
    const artifacts = await loadArtifacts();
    binDir = await installForEveryone(await buildBangerBundles());
    home = new BangerHome(binDir, 'bnr-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['hypervisor = "qemu"', 'default_image_name = "debian-minimal"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', ''].join('\n'));
    await run('useradd', ['--no-create-home', '--home-dir', home.home, '--shell', '/bin/sh', user]);
    await run('chown', ['-R', `${user}:`, home.home]);
    chmodSync(home.home, 0o700);
    await writeSudoers(documentedSudoers(user));
  }, 300_000);

  afterAll(async () => {
    if (home) await asUser(['daemon', 'stop'], 60_000).catch(() => undefined);
    rmSync(sudoersFile, { force: true });
    await run('pkill', ['-KILL', '-u', user], { allowFailure: true });
    await run('userdel', [user], { allowFailure: true });
    home?.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 120_000);

  it('runs a VM end to end: bridge, tap and NAT through sudo -n, the daemon as the user, the status passed through', async () => {
    const r = await asUser(['vm', 'run', '--rm', '--name', 'nonroot', '--', 'sh', '-c', 'id -u; exit 3']);
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${home.consoleTail('nonroot', 30)}`).toBe(3);
    expect(r.stdout.trim()).toBe('0'); // root inside the guest, as always
    const status = await asUser(['daemon', 'status', '--json'], 60_000);
    const { pid } = JSON.parse(status.stdout) as { pid: number };
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    expect(uid, 'bangerd runs as the user').toBe((await run('id', ['-u', user])).stdout.trim());
  }, BOOT_MS + 60_000);

  it('with nft left out of the rule, doctor names it before a run fails', async () => {
    await writeSudoers(documentedSudoers(user, 'nft'));
    const r = await asUser(['doctor', '--json'], 120_000);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; detail: string }> };
    const sudo = report.checks.find((c) => c.id === 'sudo');
    expect(report.ok).toBe(false);
    expect(sudo).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^sudo -n refuses \S*\/nft \(allowed: ip, sysctl\)$/) });
  }, 180_000);
});
