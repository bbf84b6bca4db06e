import { describe, expect, it } from 'vitest';
import { applyResolvedWiring, hostResolves, keepResolvedWiring, resolvedCommands, resolvedWiringApplied, revertResolvedWiring } from './resolved-wiring.js';

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
