import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { openDatabase } from '@banger/store';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;

/** Whether a process runs; a zombie does not (this container's init may never reap the hypervisors of a killed daemon). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return false;
  }
}

interface VmJson {
  name: string;
  state: string;
  stateReason?: string;
  ip?: string;
  tap?: string;
  pid?: number;
  id: string;
}

/**
 * The VM lifecycle through the real CLI and a real bangerd (bundled from
 * source) booting real Debian guests under QEMU/TCG on a bridge and taps —
 * inside the throwaway netns of tools/e2e/netns-run.sh. One VM (alpha)
 * carries most assertions, a second (beta) the kill-during-create resume.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('the VM lifecycle through banger vm … (inside a throwaway netns)', () => {
  let home: BangerHome;
  let hostFiles: string;
  let baseConfig: string;
  let binDir: string;

  const cli = (args: string[], timeoutMs = BOOT_MS): Promise<CliResult> => home.cli(args, { timeoutMs });
  const show = async (name: string): Promise<VmJson> => {
    const result = await cli(['vm', 'show', name, '--json'], 60_000);
    expect(result.exitCode, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as VmJson;
  };
  const list = async (): Promise<VmJson[]> => {
    const result = await cli(['vm', 'list', '--json'], 60_000);
    expect(result.exitCode, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as VmJson[];
  };
  /** `vm ssh NAME -- …`, failing with the console tail when ssh itself fails. */
  const ssh = async (name: string, command: string[]): Promise<CliResult> => cli(['vm', 'ssh', name, '--', ...command], 120_000);
  const sshOk = async (name: string, command: string[]): Promise<string> => {
    const result = await ssh(name, command);
    expect(result.exitCode, `${command.join(' ')}: ${result.stderr}\n--- console ---\n${home.consoleTail(name)}`).toBe(0);
    return result.stdout;
  };
  const created = (name: string, result: CliResult): void => {
    expect(result.exitCode, `vm create ${name} failed:\n${result.stderr}\n--- console ---\n${home.consoleTail(name)}`).toBe(0);
  };
  const leases = (): Array<{ ip: string; owner: string }> => {
    const db = openDatabase(join(home.stateDir, 'banger.db'));
    try {
      return db.prepare('SELECT ip, owner FROM ip_leases').all() as Array<{ ip: string; owner: string }>;
    } finally {
      db.close();
    }
  };
  const tapExists = async (tap: string): Promise<boolean> => (await run('ip', ['link', 'show', 'dev', tap], { allowFailure: true })).exitCode === 0;
  const bangerTaps = async (): Promise<string[]> =>
    (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => /^\d+: (bgr-[^:@]+)/.exec(l)?.[1]).filter((t): t is string => !!t);

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir);
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    // What file_sync copies: a directory tree (modes kept) and a single file with an explicit mode.
    hostFiles = mkdtempSync(join(tmpdir(), 'bvm-files-'));
    mkdirSync(join(hostFiles, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(hostFiles, 'tree', 'sub', 'data.txt'), 'from the host\n');
    chmodSync(join(hostFiles, 'tree', 'sub', 'data.txt'), 0o640);
    chmodSync(join(hostFiles, 'tree', 'sub'), 0o750);
    writeFileSync(join(hostFiles, 'tool'), '#!/bin/sh\necho tool ran\n');
    baseConfig = [
      'default_image_name = "debian-minimal"',
      'hypervisor = "qemu"',
      '[vm_defaults]',
      'vcpu = 1',
      'memory_mib = 512',
      'disk_size = "1G"',
    ].join('\n');
    await home.writeConfig(
      [
        baseConfig,
        '[[file_sync]]',
        `host = "${join(hostFiles, 'tree')}"`,
        'guest = "~/synced"',
        '[[file_sync]]',
        `host = "${join(hostFiles, 'tool')}"`,
        'guest = "/root/bin/tool"',
        'mode = "0755"',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    if (!home) return;
    for (const vm of await list().catch(() => [])) await cli(['vm', 'delete', vm.name, '--force'], 120_000);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (hostFiles) rmSync(hostFiles, { recursive: true, force: true });
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  it('creates a VM with the spec line first, and a second create of the same name skips every step', async () => {
    const result = await cli(['vm', 'create', '--name', 'alpha']);
    created('alpha', result);
    expect(result.stderr.split('\n')[0]).toMatch(/^spec: 1 vCPU \(config\), 512 MiB RAM \(config\), 1(\.0)? GiB disk \(config\)$/);
    expect(result.stdout).toMatch(/^vm alpha is running at 172\.16\.0\.\d+/);

    // The console and the daemon's lines about the VM come through the daemon.
    const console = await cli(['vm', 'logs', 'alpha'], 60_000);
    expect(console.exitCode, console.stderr).toBe(0);
    expect(console.stdout).toContain('Linux version');
    expect((await cli(['vm', 'logs', 'alpha', '-n', '3'], 60_000)).stdout.trimEnd().split('\n')).toHaveLength(3);
    // -f keeps streaming until Ctrl-C, which ends it normally.
    const follower = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'logs', 'alpha', '-f', '-n', '1'], { env: home.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => {
      if (!followed) follower.kill('SIGINT');
      followed += d.toString();
    });
    const followCode = await new Promise<number | null>((resolve) => follower.once('close', (c) => resolve(c)));
    expect(followCode).toBe(0);
    expect(followed.trim().split('\n')).toHaveLength(1);
    const daemonLines = await cli(['vm', 'logs', 'alpha', '--daemon', '--raw'], 60_000);
    expect(daemonLines.stdout).toContain('"msg":"vm created"');
    expect(daemonLines.stdout).not.toMatch(/"vm":"(?!alpha")/);
    const shown = await cli(['vm', 'show', 'alpha'], 60_000);
    expect(shown.stdout).toMatch(/hypervisor: +qemu \(tcg\) .*, pid \d+/);
    expect(shown.stdout).toMatch(/why: +hypervisor = qemu; QEMU runs with TCG/);

    const explained = await cli(['vm', 'create', '--name', 'alpha', '--explain'], 60_000);
    expect(explained.exitCode, explained.stderr).toBe(0);
    expect(explained.stdout).toContain('plan for vm:alpha: 0 to run, 10 to skip');

    const again = await cli(['vm', 'create', '--name', 'alpha']);
    expect(again.exitCode, again.stderr).toBe(0);
    for (const step of ['vm.fetch-kernel', 'vm.fetch-image', 'vm.build-rootfs', 'vm.agent-unit', 'vm.runtime-disk', 'vm.sync-files', 'vm.create-tap', 'vm.boot', 'vm.wait-agent', 'vm.wait-ssh']) {
      expect(again.stderr).toContain(`[${step}] skipped (satisfied)`);
    }
  });

  it('reaches the guest with strict host-key checking against the pinned key, and refuses a different key', async () => {
    const dir = home.vmDir('alpha');
    const pinned = readFileSync(home.knownHosts, 'utf8');
    const hostKey = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const vm = await show('alpha');
    expect(pinned).toContain(`alpha.vm,${vm.ip} ${hostKey}`);
    expect(await sshOk('alpha', ['true'])).toBe('');

    // Pin some other key: the system ssh must refuse the guest (exit 255), never learn the new key.
    const other = join(hostFiles, 'other_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const otherKey = readFileSync(`${other}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(home.knownHosts, pinned.replace(hostKey, otherKey));
    try {
      const refused = await ssh('alpha', ['true']);
      expect(refused.exitCode).toBe(255);
      expect(refused.stderr).toMatch(/host key|HOST IDENTIFICATION/i);
    } finally {
      writeFileSync(home.knownHosts, pinned);
    }
    // The remote command's status passes through.
    expect((await ssh('alpha', ['sh', '-c', 'exit 7'])).exitCode).toBe(7);
  });

  it('mounts the work disk at /root with the modes sshd wants, holding the file_sync entries with their modes', async () => {
    const mounts = await sshOk('alpha', ['awk', '$2 == "/root" { print $1, $3 }', '/proc/mounts']);
    expect(mounts.trim()).toBe('/dev/vdb ext4');
    // e2label reads the superblock itself (no blkid cache or udev involved).
    const label = await sshOk('alpha', ['e2label', '/dev/vdb']);
    expect(label.trim()).toBe('banger-work');
    const modes = await sshOk('alpha', ['stat', '-c', '%a %U %G %n', '/root', '/root/.ssh', '/root/.ssh/authorized_keys']);
    expect(modes.trim().split('\n')).toEqual(['700 root root /root', '700 root root /root/.ssh', '600 root root /root/.ssh/authorized_keys']);
    const keys = await sshOk('alpha', ['cat', '/root/.ssh/authorized_keys']);
    expect(keys).toContain(readFileSync(`${home.userKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' '));

    const synced = await sshOk('alpha', ['stat', '-c', '%a %U %n', '/root/synced/sub', '/root/synced/sub/data.txt', '/root/bin/tool']);
    expect(synced.trim().split('\n')).toEqual(['750 root /root/synced/sub', '640 root /root/synced/sub/data.txt', '755 root /root/bin/tool']);
    expect(await sshOk('alpha', ['cat', '/root/synced/sub/data.txt'])).toBe('from the host\n');
    expect(await sshOk('alpha', ['/root/bin/tool'])).toBe('tool ran\n');
  });

  it('keeps /root across stop and start', async () => {
    await sshOk('alpha', ['sh', '-c', 'echo persisted > /root/marker && sync']);
    const stopped = await cli(['vm', 'stop', 'alpha'], 120_000);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const afterStop = (await list()).find((v) => v.name === 'alpha');
    expect(afterStop).toMatchObject({ state: 'stopped', stateReason: 'stopped by banger vm stop' });
    expect((await ssh('alpha', ['true'])).exitCode).toBe(1);

    const started = await cli(['vm', 'start', 'alpha']);
    expect(started.exitCode, `${started.stderr}\n--- console ---\n${home.consoleTail('alpha')}`).toBe(0);
    expect(await sshOk('alpha', ['cat', '/root/marker'])).toBe('persisted\n');
  });

  it('refuses to re-create an existing VM with different inputs and leaves it untouched', async () => {
    const result = await cli(['vm', 'create', '--name', 'alpha', '--vcpu', '2', '--image', 'other-image'], 60_000);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('vm alpha exists with image debian-minimal (asked: other-image), vcpu 1 (asked: 2); delete it first or use another name');
    expect((await show('alpha')).state).toBe('running');
  });

  it('keeps VMs running when the daemon is killed; the next CLI call restarts it, which adopts and controls them', async () => {
    const before = await show('alpha');
    const daemon = await home.daemonPid();
    process.kill(daemon, 'SIGKILL');
    while (running(daemon)) await sleep(100);

    const vms = await list();
    expect(vms.find((v) => v.name === 'alpha')).toMatchObject({ state: 'running' });
    expect(await home.daemonPid()).not.toBe(daemon);
    expect((await show('alpha')).pid).toBe(before.pid);
    expect(await sshOk('alpha', ['true'])).toBe('');

    // The new daemon controls the adopted VM: a forced restart kills the old process and boots a new one.
    const restarted = await cli(['vm', 'restart', 'alpha', '--force']);
    expect(restarted.exitCode, `${restarted.stderr}\n--- console ---\n${home.consoleTail('alpha')}`).toBe(0);
    const after = await show('alpha');
    expect(after.pid).not.toBe(before.pid);
    expect(running(before.pid!)).toBe(false);
    expect(await sshOk('alpha', ['cat', '/root/marker'])).toBe('persisted\n');
  });

  it('resumes a creation whose daemon was killed during vm.wait-ssh', async () => {
    let killed = false;
    const first = await home.cli(['vm', 'create', '--name', 'beta'], {
      timeoutMs: BOOT_MS,
      onStderr: (text) => {
        if (killed || !text.includes('[vm.wait-ssh] started')) return;
        killed = true;
        void home.daemonPid().then((pid) => process.kill(pid, 'SIGKILL'));
      },
    });
    expect(killed, first.stderr).toBe(true);
    expect(first.exitCode).not.toBe(0);
    const interrupted = (await list()).find((v) => v.name === 'beta');
    expect(interrupted?.state).toBe('creating');
    expect(interrupted?.stateReason).toMatch(/^creation interrupted/);

    const second = await cli(['vm', 'create', '--name', 'beta']);
    created('beta', second);
    expect(second.stderr).toContain('[vm.build-rootfs] skipped (satisfied)');
    expect(second.stderr).toContain('[vm.boot] skipped (satisfied)');
    expect(second.stderr).toMatch(/\[vm\.wait-ssh\] ok/);
    expect(await sshOk('beta', ['hostname'])).toBe('beta\n');
  });

  it('cancels a creation on Ctrl-C, and the next create resumes it', async () => {
    const child = spawn(process.execPath, [join(binDir, 'banger.cjs'), 'vm', 'create', '--name', 'gamma'], { env: home.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      const before = stderr;
      stderr += d.toString();
      if (stderr.includes('[vm.wait-ssh] started') && !before.includes('[vm.wait-ssh] started')) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    expect(code, stderr).toBe(130);
    let gamma: VmJson | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !gamma?.stateReason?.includes('creation cancelled')) {
      gamma = (await list()).find((v) => v.name === 'gamma');
      await sleep(250);
    }
    expect(gamma).toMatchObject({ state: 'creating' });
    expect(gamma?.stateReason).toContain('creation cancelled');

    const resumed = await cli(['vm', 'create', '--name', 'gamma']);
    created('gamma', resumed);
    expect(resumed.stderr).toContain('[vm.sync-files] skipped (satisfied)');
    expect(resumed.stderr).toMatch(/\[vm\.wait-ssh\] ok/);
  });

  it('deletes VMs with their directory, tap, lease and pinned key', async () => {
    const alpha = await show('alpha');
    const beta = await show('beta');
    const gamma = await show('gamma');
    for (const [vm, flags] of [[alpha, []], [beta, ['--force']], [gamma, ['--force']]] as const) {
      const result = await cli(['vm', 'delete', vm.name, ...flags], 120_000);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(existsSync(home.vmDir(vm.name))).toBe(false);
      expect(await tapExists(vm.tap!)).toBe(false);
      expect(readFileSync(home.knownHosts, 'utf8')).not.toContain(`${vm.name}.vm`);
      if (vm.pid) expect(running(vm.pid), `hypervisor ${vm.pid} still runs`).toBe(false);
    }
    expect(leases()).toEqual([]);
    expect(await list()).toEqual([]);
  });

  describe('rejects bad input with one line, exit 1, and leaves nothing behind', () => {
    const nothingLeft = async (): Promise<void> => {
      expect(await list()).toEqual([]);
      const vmsDir = join(home.stateDir, 'vms');
      expect(existsSync(vmsDir) ? readdirSync(vmsDir) : []).toEqual([]);
      expect(leases()).toEqual([]);
      expect(await bangerTaps()).toEqual([]);
    };
    const rejects = async (args: string[], message: RegExp): Promise<void> => {
      const result = await cli(['vm', 'create', ...args], 120_000);
      expect(result.exitCode, result.stderr).toBe(1);
      const lines = result.stderr.trim().split('\n').filter((l) => !l.startsWith('spec:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      await nothingLeft();
    };

    it('an invalid name', () => rejects(['--name', 'Bad_Name'], /invalid VM name "Bad_Name"/));
    it('an unknown image', () => rejects(['--name', 'gamma', '--image', 'no-such-image'], /image no-such-image is neither registered nor in the catalog/));
    it('a disk smaller than the image', () => rejects(['--name', 'gamma', '--disk', '100M'], /disk 100M .* is smaller than image debian-minimal/));
    it('a file_sync guest path outside /root', async () => {
      await home.writeConfig(`${baseConfig}\n[[file_sync]]\nhost = "${join(hostFiles, 'tool')}"\nguest = "/etc/tool"\n`);
      await rejects(['--name', 'gamma'], /file_sync.*\/etc\/tool/);
    });
    it('a missing file_sync host path', async () => {
      await home.writeConfig(`${baseConfig}\n[[file_sync]]\nhost = "${join(hostFiles, 'missing')}"\nguest = "~/missing"\n`);
      await rejects(['--name', 'gamma'], /file_sync\[0\].*host path .*missing does not exist/);
    });
  });
});
