import { closeSync, existsSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 10 * 60_000;
const VMS = ['warm-a', 'warm-b'] as const;

interface Identity {
  hostname: string;
  etcHostname: string;
  mac: string;
  ip: string;
  machineId: string;
  hostKey: string;
  random: string;
  synced: string;
  /** `systemctl is-active` of banger-network and networkd, comma-separated. */
  network: string;
  route: string;
}

/**
 * Warm start (issue #20, slice 2) on real debian-minimal guests under
 * QEMU/TCG, inside the throwaway netns of tools/e2e/netns-run.sh: two VMs
 * created at the same time with warm_start = true share one template (booted
 * once, saved) and are each restored from a copy of it; each must come out as
 * its own machine. Then a corrupted template: one warning, a cold boot, the
 * template removed.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('warm start: VMs restored from one template (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  const created: CliResult[] = [];
  const ids = new Map<string, Identity>();
  const cli = (args: string[], timeoutMs = 180_000): Promise<CliResult> => home.cli(args, { timeoutMs });
  const warmDir = (): string => join(home.stateDir, 'warm');
  const templates = (): string[] => (existsSync(warmDir()) ? readdirSync(warmDir()).filter((n) => !n.startsWith('.')) : []);
  const show = async (vm: string): Promise<{ ip: string; mac: string }> => {
    const r = await cli(['vm', 'show', vm, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { ip: string; mac: string };
  };
  const identity = async (vm: string): Promise<Identity> => {
    // Read right after start, in one exec: what a user checks to tell two machines apart.
    const script = [
      'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"; echo',
      'hostname',
      'cat /etc/hostname',
      'cat /sys/class/net/eth0/address',
      // Every IPv4 address of eth0: exactly the VM's, not the template's as well.
      "ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1 | paste -sd,",
      'cat /etc/machine-id',
      'cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub',
      'cat /root/synced.txt',
      // Which unit configured eth0 in the template (the restored /run keeps its marker), and the route the identity script moved.
      'systemctl is-active banger-network.service systemd-networkd.service | paste -sd,',
      'ip -4 route show default',
    ].join('; ');
    const r = await cli(['vm', 'exec', vm, '--', 'sh', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [random = '', hostname = '', etcHostname = '', mac = '', ip = '', machineId = '', hostKey = '', synced = '', network = '', route = ''] = r.stdout.trim().split('\n');
    return { random, hostname, etcHostname, mac, ip, machineId, hostKey, synced, network, route };
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bwarm-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    const synced = join(home.home, 'synced.txt');
    writeFileSync(synced, 'from the host\n');
    await home.writeConfig([
      'warm_start = true',
      'default_image_name = "debian-minimal"',
      'hypervisor = "qemu"',
      '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "1G"',
      '[[file_sync]]', `host = "${synced}"`, 'guest = "~/synced.txt"', '',
    ].join('\n'));
    // Both at once: one builds the template, the other waits for it; both are restored from copies.
    created.push(...(await Promise.all(VMS.map((vm) => cli(['vm', 'create', '--name', vm], BOOT_MS)))));
    for (const [i, r] of created.entries()) expect(r.exitCode, `vm create ${VMS[i]} failed:\n${r.stderr}\n--- console ---\n${home.consoleTail(VMS[i]!)}`).toBe(0);
    for (const vm of VMS) ids.set(vm, await identity(vm));
  }, BOOT_MS + 120_000);

  afterAll(async () => {
    if (!home) return;
    await cli(['vm', 'delete', ...VMS, 'warm-c', '--force']);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 180_000);

  it('both were restored from one template, and each is its own machine: hostname, MAC, IP, machine-id, host key, randomness, file_sync', async () => {
    expect(templates(), 'one template for the two VMs').toHaveLength(1);
    for (const r of created) expect(r.stderr).toMatch(/restored from warm template [0-9a-f]{16} in [\d.]+ s/);
    console.log(created.map((r, i) => `${VMS[i]}: ${r.stderr.split('\n').filter((l) => /template|agent answered|identity script|hostname .*machine-id/.test(l)).join(' | ')}`).join('\n'));
    const [a, b] = VMS.map((vm) => ids.get(vm)!);
    for (const [vm, id] of [[VMS[0], a!], [VMS[1], b!]] as const) {
      const record = await show(vm);
      expect(id.hostname).toBe(vm);
      expect(id.etcHostname).toBe(vm);
      expect(id.mac).toBe(record.mac);
      expect(id.ip).toBe(record.ip);
      expect(id.machineId).toMatch(/^[0-9a-f]{32}$/);
      expect(id.random).toMatch(/^[0-9a-f]{64}$/);
      expect(id.synced).toBe('from the host');
      // eth0 came from the image's one-shot in the template, not networkd, and the restore kept a default route on eth0.
      expect(id.network).toBe('active,inactive');
      expect(id.route).toMatch(/^default via \d+\.\d+\.\d+\.\d+ dev eth0\b/);
    }
    for (const key of ['hostname', 'mac', 'ip', 'machineId', 'hostKey', 'random'] as const) expect(a![key], key).not.toBe(b![key]);
  });

  it('image show lists the template and its disk use', async () => {
    const json = await cli(['image', 'show', 'debian-minimal', '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const info = JSON.parse(json.stdout) as { warmTemplates?: Array<{ fingerprint: string; memoryMib: number; vcpu: number; bytes: number }> };
    expect(info.warmTemplates?.map((t) => t.fingerprint)).toEqual(templates());
    expect(info.warmTemplates?.[0]).toMatchObject({ vcpu: 1, memoryMib: 512 });
    // At least the saved memory (≈ 170 MiB for this guest), not the disks' logical 2 × 1 GiB.
    expect(info.warmTemplates?.[0]?.bytes).toBeGreaterThan(50 * 2 ** 20);
    expect(info.warmTemplates?.[0]?.bytes).toBeLessThan(2 * 2 ** 30);
    const text = await cli(['image', 'show', 'debian-minimal']);
    expect(text.stdout).toMatch(new RegExp(`warm templates: +1, [\\d.]+ [MG]iB on disk: ${templates()[0]} \\(debian-cloud, 1 vCPU, 512 MiB`));
  });

  it('both answer over ssh with their pinned keys, and reach each other by name over .vm', async () => {
    for (const vm of VMS) {
      const r = await cli(['vm', 'ssh', vm, '--', 'hostname']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(vm);
    }
    // From a: b's name resolves (the bridge's DNS server) to b's address, and b's sshd answers there.
    const b = await show(VMS[1]);
    const r = await cli(['vm', 'exec', VMS[0], '--', 'bash', '-c', `getent hosts ${VMS[1]}.vm | cut -d" " -f1; exec 3<>/dev/tcp/${VMS[1]}.vm/22; head -c 7 <&3`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(b.ip);
    expect(r.stdout).toContain('SSH-2.0');
  }, 5 * 60_000);

  it('a corrupt template state: one warning, a cold boot, the template removed', async () => {
    const [fingerprint] = templates();
    const state = join(warmDir(), fingerprint!, 'template.state');
    const fd = openSync(state, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 0);
    closeSync(fd);
    const r = await cli(['vm', 'run', '--name', 'warm-c', '--', 'sh', '-c', 'hostname; cat /root/synced.txt; cut -d" " -f2 /etc/ssh/ssh_host_ed25519_key.pub'], BOOT_MS);
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${home.consoleTail('warm-c')}`).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning:') && l.includes('template'));
    expect(warnings, r.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(/warning: could not start vm warm-c from its warm template \(.+\); booting it cold/);
    expect(existsSync(join(warmDir(), fingerprint!)), 'the bad template is removed').toBe(false);
    const [hostname, synced, hostKey] = r.stdout.trim().split('\n');
    expect(hostname).toBe('warm-c');
    expect(synced).toBe('from the host');
    expect([ids.get(VMS[0])!.hostKey, ids.get(VMS[1])!.hostKey]).not.toContain(hostKey);
  }, BOOT_MS);

  it.each([
    ['whose saved memory state was deleted', (dir: string) => rmSync(join(dir, 'template.state')), /its saved memory and device state is missing/],
    ['written by another banger version', (dir: string) => writeFileSync(join(dir, 'template.json'), JSON.stringify({ format: 2 })), /written by another banger version/],
  ])('a template %s: one warning naming why, a cold boot, the template removed (the next run builds it again)', async (_what, damage, why) => {
    // A template to damage: the corrupt-state test above removed the one there was, and each case removes its own.
    if (templates().length === 0) {
      const built = await cli(['vm', 'run', '--rm', '--name', 'warm-t', '--', 'true'], BOOT_MS);
      expect(built.exitCode, built.stderr).toBe(0);
    }
    const [fingerprint] = templates();
    damage(join(warmDir(), fingerprint!));
    const r = await cli(['vm', 'run', '--rm', '--name', 'warm-d', '--', 'hostname'], BOOT_MS);
    expect(r.exitCode, `${r.stderr}\n--- console ---\n${home.consoleTail('warm-d')}`).toBe(0);
    expect(r.stdout.trim()).toBe('warm-d');
    const warnings = r.stderr.split('\n').filter((l) => l.includes('warning:') && l.includes('template'));
    expect(warnings, r.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`warning: warm template ${fingerprint} is damaged \\(.+\\); removed it, booting vm warm-d cold`));
    expect(warnings[0]).toMatch(why);
    expect(templates(), 'the damaged template is removed').toEqual([]);
  }, 2 * BOOT_MS);
});
