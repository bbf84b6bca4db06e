import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { applyResolvedWiring, hostResolves, keepResolvedWiring, resolvedCommands, resolvedWiringApplied, revertResolvedWiring } from './resolved-wiring.js';
import { addSshConfigInclude, removeSshConfigInclude, renderSshConfig } from './ssh-config.js';

describe('systemd-resolved wiring', () => {
  it('routes only the ~vm domain to the bridge address, with the port when it is not 53', () => {
    expect(resolvedCommands({ bridge: 'banger0', address: '172.16.0.1', port: 5353 })).toEqual([
      { command: 'resolvectl', args: ['dns', 'banger0', '172.16.0.1:5353'] },
      { command: 'resolvectl', args: ['domain', 'banger0', '~vm'] },
      { command: 'resolvectl', args: ['default-route', 'banger0', 'false'] },
    ]);
    expect(resolvedCommands({ bridge: 'b', address: '172.16.0.1', port: 53 })[0]?.args).toEqual(['dns', 'b', '172.16.0.1']);
  });

  it('runs the commands through the privileged runner when resolved is active, and skips them otherwise', async () => {
    const ran: string[] = [];
    const runner = async (command: string, args: readonly string[]) => {
      ran.push([command, ...args].join(' '));
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    expect(await applyResolvedWiring({ bridge: 'banger0', address: '172.16.0.1' }, { active: () => false, runner })).toEqual({
      applied: false,
      reason: 'systemd-resolved is not running on this host',
    });
    expect(ran).toEqual([]);
    expect(await applyResolvedWiring({ bridge: 'banger0', address: '172.16.0.1' }, { active: () => true, runner })).toEqual({ applied: true });
    await revertResolvedWiring('banger0', { active: () => true, runner });
    expect(ran).toEqual(['resolvectl dns banger0 172.16.0.1', 'resolvectl domain banger0 ~vm', 'resolvectl default-route banger0 false', 'resolvectl revert banger0']);
  });
});

describe('keeping the wiring across resolved restarts', () => {
  /** A fake resolvectl whose per-link DNS list is `servers` and which records what it is asked. */
  function fakeResolvectl(servers: { list: string[] }) {
    const ran: string[] = [];
    const runner = async (command: string, args: readonly string[]) => {
      ran.push([command, ...args].join(' '));
      if (args[0] === 'dns' && args.length === 2) return { exitCode: 0, stdout: `Link 7 (${args[1]}): ${servers.list.join(' ')}\n`, stderr: '' };
      if (args[0] === 'dns' && args[2]) servers.list = [args[2]];
      return { exitCode: 0, stdout: '', stderr: '' };
    };
    return { ran, runner };
  }

  it('tells whether resolved still lists banger\'s server for the bridge', async () => {
    const servers = { list: ['172.16.0.1:5353'] };
    const { runner } = fakeResolvectl(servers);
    const wiring = { bridge: 'banger0', address: '172.16.0.1', port: 5353 };
    expect(await resolvedWiringApplied(wiring, { runner })).toBe(true);
    servers.list = [];
    expect(await resolvedWiringApplied(wiring, { runner })).toBe(false);
  });

  it('re-applies the wiring when resolved forgot it, and stops when aborted', async () => {
    const servers = { list: [] as string[] };
    const { ran, runner } = fakeResolvectl(servers);
    const controller = new AbortController();
    let reapplied = 0;
    const loop = keepResolvedWiring(
      { bridge: 'banger0', address: '172.16.0.1' },
      { signal: controller.signal, intervalMs: 20, active: () => true, runner, onReapplied: () => (reapplied += 1) },
    );
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    await loop;
    expect(reapplied).toBe(1);
    expect(ran.filter((line) => line === 'resolvectl domain banger0 ~vm')).toHaveLength(1);
  });
});

describe('hostResolves', () => {
  it('returns the address the host resolver gives, or undefined', async () => {
    expect(await hostResolves('localhost')).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(await hostResolves('definitely-not-a-vm.invalid')).toBeUndefined();
  });
});

describe('ssh config', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'banger-sshconfig-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('renders a Host *.vm block that OpenSSH applies to VM names only', async () => {
    const file = join(dir, 'banger config');
    await writeFile(file, renderSshConfig({ keyPath: join(dir, 'my key'), knownHostsPath: join(dir, 'known_hosts') }));
    const vm = (await execa('ssh', ['-G', '-F', file, 'sandbox.vm'])).stdout;
    expect(vm).toMatch(/^user root$/m);
    expect(vm).toContain(`identityfile ${join(dir, 'my key')}`);
    expect(vm).toMatch(/^identitiesonly yes$/m);
    expect(vm).toContain(`userknownhostsfile ${join(dir, 'known_hosts')}`);
    expect(vm).toMatch(/^stricthostkeychecking true$/m);
    const other = (await execa('ssh', ['-G', '-F', file, 'example.com'])).stdout;
    expect(other).not.toContain(join(dir, 'my key'));
  });

  it('adds the Include line once, at the top, keeping the user\'s config and its mode', async () => {
    const config = join(dir, '.ssh', 'config');
    const include = join(dir, 'banger', 'ssh config');
    expect(await addSshConfigInclude(config, include)).toBe(true);
    expect((await stat(config)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, '.ssh'))).mode & 0o777).toBe(0o700);

    await writeFile(config, `${await readFile(config, 'utf8')}Host work\n    User me\n`);
    expect(await addSshConfigInclude(config, include)).toBe(false);
    const text = await readFile(config, 'utf8');
    expect(text.indexOf(`Include "${include}"`)).toBeLessThan(text.indexOf('Host work'));

    expect(await removeSshConfigInclude(config, include)).toBe(true);
    expect(await readFile(config, 'utf8')).toBe('Host work\n    User me\n');
    expect(await removeSshConfigInclude(config, include)).toBe(false);
  });
});
