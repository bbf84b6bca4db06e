import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@banger/host';
import { openDatabase } from '@banger/store';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 10 * 60_000;
// Six small guests under TCG on two cores: 90 s on an idle host, well inside wait-ssh's 300 s. This
// test found two races on a new machine: every creation adding the bridge, and every creation
// making its own user key (the guests that authorized a losing key refused banger for good).
const RUNS = 6;
/** How long the daemon may take to remove what `vm run --rm` handed it: a kill, a tap, a lease, a directory each. */
const REMOVAL_MS = 30_000;

/** What a VM leaves on the host while it lives: taps, bridge ports, hypervisor processes. */
interface HostFootprint {
  taps: string[];
  bridgePorts: string[];
  qemu: string[];
}

async function footprint(home: BangerHome): Promise<HostFootprint> {
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout.split('\n');
  const name = (line: string): string => line.split(': ')[1]?.split('@')[0] ?? '';
  const taps = links.map(name).filter((n) => n.startsWith('bgr-')).sort();
  const bridgePorts = links.filter((l) => / master /.test(l)).map(name).sort();
  const ps = (await run('ps', ['-eo', 'pid=,args='])).stdout.split('\n');
  // Only this test's guests: their drives live under this BANGER_HOME.
  const qemu = ps.filter((l) => l.includes('qemu-system') && l.includes(home.home)).map((l) => l.trim());
  return { taps, bridgePorts, qemu };
}

/**
 * Several `vm run --rm` through one daemon at the same time, then a create
 * race and a delete race on one name: every command succeeds or fails with one
 * clear line, the guests get distinct names, addresses and MACs, and nothing
 * is left behind (no tap, bridge port, QEMU, lease, VM row or VM directory).
 * Real CLI, real bangerd, real QEMU guests, inside the throwaway netns.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('concurrent vm runs through one daemon (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bconc-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 384', 'disk_size = "1G"', ''].join('\n'));
    await home.daemonPid();
  }, 5 * 60_000);

  afterAll(async () => {
    if (home) {
      // Whatever a failed case kept for inspection goes too.
      const list = await home.cli(['vm', 'list', '--json'], { timeoutMs: 60_000 });
      const names = list.exitCode === 0 ? (JSON.parse(list.stdout) as Array<{ name: string }>).map((v) => v.name) : [];
      for (const name of names) await home.cli(['vm', 'delete', name, '--force'], { timeoutMs: 120_000 });
      await home.cli(['daemon', 'stop'], { timeoutMs: 60_000 });
      home.remove();
    }
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  });

  const leftovers = (): { vms: number; leases: number; vmDirs: string[] } => {
    const db = openDatabase(join(home.stateDir, 'banger.db'));
    try {
      return {
        vms: db.prepare('SELECT count(*) FROM vms').pluck().get() as number,
        leases: db.prepare('SELECT count(*) FROM ip_leases').pluck().get() as number,
        vmDirs: (() => {
          try {
            return readdirSync(join(home.stateDir, 'vms'));
          } catch {
            return [];
          }
        })(),
      };
    } finally {
      db.close();
    }
  };

  it(`runs ${RUNS} vm run --rm at once: all succeed with distinct names, IPs and MACs, and leave nothing behind`, async () => {
    // Compared with the host as it was before (earlier files share this netns), not with an ideal.
    const before = await footprint(home);
    const probe = 'echo "name=$(hostname)"; echo "ip=$(ip -4 -o addr show dev eth0 | awk \'{print $4}\')"; echo "mac=$(cat /sys/class/net/eth0/address)"';
    const runs: CliResult[] = await Promise.all(Array.from({ length: RUNS }, () => home.cli(['vm', 'run', '--rm', '--', 'sh', '-c', probe], { timeoutMs: BOOT_MS })));
    const facts = runs.map((r, i) => {
      expect(r.exitCode, `run ${i}: exit ${r.exitCode}\n${r.stderr}`).toBe(0);
      const field = (key: string): string => r.stdout.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1] ?? '';
      return { name: field('name'), ip: field('ip'), mac: field('mac') };
    });
    for (const key of ['name', 'ip', 'mac'] as const) {
      const values = facts.map((f) => f[key]);
      expect(values.every(Boolean), `${key}: ${values.join(', ')}`).toBe(true);
      expect(new Set(values).size, `${key}: ${values.join(', ')}`).toBe(RUNS);
    }
    // What the user sees at once: `--rm` returned, so the VMs are gone from the list and their names are free.
    const list = await home.cli(['vm', 'list', '--json'], { timeoutMs: 60_000 });
    expect(JSON.parse(list.stdout), list.stderr).toEqual([]);
    // The daemon stops them and frees their taps, leases and disks after the CLIs returned (issue 19): bounded, not instant.
    await expect.poll(leftovers, { timeout: REMOVAL_MS, interval: 250 }).toEqual({ vms: 0, leases: 0, vmDirs: [] });
    await expect.poll(() => footprint(home), { timeout: REMOVAL_MS, interval: 250 }).toEqual(before);
  });

  it('settles a create race and a delete race on one name: one VM, clear errors, then nothing left', async () => {
    const before = await footprint(home);
    const creates = await Promise.all([1, 2].map(() => home.cli(['vm', 'create', '--name', 'same'], { timeoutMs: BOOT_MS })));
    // Either both succeed (the second resumed or found the first's VM), or the loser says why in one line.
    for (const r of creates) {
      if (r.exitCode !== 0) {
        expect(r.exitCode, r.stderr).toBe(1);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(/^banger: .*same/);
      }
    }
    expect(creates.some((r) => r.exitCode === 0), creates.map((r) => r.stderr).join('\n---\n')).toBe(true);
    const list = await home.cli(['vm', 'list', '--json'], { timeoutMs: 60_000 });
    expect((JSON.parse(list.stdout) as Array<{ name: string; state: string }>).filter((v) => v.name === 'same').map((v) => v.state)).toEqual(['running']);

    const deletes = await Promise.all([1, 2].map(() => home.cli(['vm', 'delete', 'same', '--force'], { timeoutMs: 120_000 })));
    for (const r of deletes) {
      if (r.exitCode !== 0) {
        expect(r.exitCode, r.stderr).toBe(1);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      }
    }
    expect(deletes.some((r) => r.exitCode === 0), deletes.map((r) => r.stderr).join('\n---\n')).toBe(true);
    expect(leftovers()).toEqual({ vms: 0, leases: 0, vmDirs: [] });
    expect(await footprint(home)).toEqual(before);
  });
});
