import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExecutable, run } from '@banger/host';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;
const GATEWAY = '172.16.0.1';
const ns = process.env['BANGER_NETNS'];

/**
 * `.vm` names end to end, inside the throwaway netns of netns-run.sh: the
 * daemon's DNS server on the bridge address (port 53: bangerd runs as root
 * here), queried with dig and through glibc — a resolv.conf for this netns
 * only (/etc/netns/<ns>/resolv.conf, which `ip netns exec` bind-mounts) — and
 * plain `ssh <vm>.vm` through the include file of `banger ssh-config
 * install`, with strict host-key checking against banger's pin.
 */
describe.skipIf(!ns || !findExecutable('dig'))('.vm hostnames and ssh <vm>.vm (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  let ip: string;
  const cli = (args: string[], timeoutMs = BOOT_MS, env: NodeJS.ProcessEnv = {}): Promise<CliResult> => home.cli(args, { timeoutMs, env });
  const dig = async (name: string, type = 'A'): Promise<string> => (await run('dig', [`@${GATEWAY}`, '+time=2', '+tries=1', name, type], { allowFailure: true })).stdout;
  const inNs = (command: string, args: string[], env: NodeJS.ProcessEnv) =>
    run('ip', ['netns', 'exec', ns!, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args], { allowFailure: true, timeoutMs: 60_000 });

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bdns-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "1G"', ''].join('\n'));
    const created = await cli(['vm', 'create', '--name', 'dnsvm']);
    expect(created.exitCode, `${created.stderr}\n--- console ---\n${home.consoleTail('dnsvm')}`).toBe(0);
    const shown = JSON.parse((await cli(['vm', 'show', 'dnsvm', '--json'], 60_000)).stdout) as { ip: string };
    ip = shown.ip;
    // The DNS service notices the bridge within its poll interval.
    for (let i = 0; i < 30 && !(await dig('dnsvm.vm')).includes(ip); i++) await sleep(500);
  }, BOOT_MS + 120_000);

  afterAll(async () => {
    if (ns) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    if (!home) return;
    await cli(['vm', 'delete', 'dnsvm', '--force'], 120_000).catch(() => undefined);
    await cli(['daemon', 'stop'], 60_000).catch(() => undefined);
    home.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  it('answers <vm>.vm on the bridge address at port 53, authoritatively, and REFUSED outside .vm', async () => {
    const answer = await dig('dnsvm.vm');
    expect(answer).toMatch(/status: NOERROR/);
    expect(answer).toMatch(/flags: qr aa/);
    expect(answer).toMatch(new RegExp(`^dnsvm\\.vm\\.\\s+5\\s+IN\\s+A\\s+${ip.replace(/\./g, '\\.')}$`, 'm'));
    expect(await dig('nope.vm')).toMatch(/status: NXDOMAIN/);
    expect(await dig('dnsvm.vm', 'AAAA')).toMatch(/status: NOERROR[\s\S]*ANSWER: 0/);
    expect(await dig('example.com')).toMatch(/status: REFUSED/);
  });

  it('reports its loopback listener in daemon status, and answers there too', async () => {
    const status = JSON.parse((await cli(['daemon', 'status', '--json'], 60_000)).stdout) as { dns: { address: string } | null };
    expect(status.dns?.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const port = status.dns!.address.split(':')[1]!;
    const loopback = await run('dig', ['@127.0.0.1', '-p', port, '+short', '+time=2', '+tries=1', 'dnsvm.vm']);
    expect(loopback.stdout.trim()).toBe(ip);
  });

  it('lets plain `ssh dnsvm.vm` in through glibc and the ssh-config include, with strict host-key checking', async () => {
    const userHome = join(home.home, 'user');
    mkdirSync(join(userHome, '.ssh'), { recursive: true, mode: 0o700 });
    const install = await cli(['ssh-config', 'install', '--yes'], 60_000, { HOME: userHome });
    expect(install.exitCode, install.stderr).toBe(0);
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${GATEWAY}\noptions timeout:2 attempts:1\n`);

    const getent = await inNs('getent', ['hosts', 'dnsvm.vm'], {});
    expect(getent.stdout).toMatch(new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+dnsvm\\.vm$`, 'm'));

    // OpenSSH finds ~/.ssh/config through the passwd entry, not $HOME: name the file that install edited.
    // BatchMode turns any prompt (an unknown host key) into a failure.
    const ssh = await inNs('ssh', ['-F', join(userHome, '.ssh', 'config'), '-o', 'BatchMode=yes', 'dnsvm.vm', 'echo "$(id -un)@$(hostname)"'], {});
    expect(ssh.stderr).toBe('');
    expect(ssh.stdout.trim()).toBe('root@dnsvm');
    expect(ssh.exitCode).toBe(0);
  });

  it('stops answering for a VM once it is deleted', async () => {
    const deleted = await cli(['vm', 'delete', 'dnsvm', '--force'], 120_000);
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(await dig('dnsvm.vm')).toMatch(/status: NXDOMAIN/);
  });
});
