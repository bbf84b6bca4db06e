import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, run, runPrivileged } from '@banger/host';
import { QemuDriver, selectHypervisor, type VmHandle, type VmSpec, type VmStatus } from '@banger/hypervisor';
import { ensureBridge, ensureNat, ensureTap, enableIpForward, guestNetworkFor, LeaseStore, listTaps, removeNat, removeTap, tapNameFor } from '@banger/network';
import { openDatabase } from '@banger/store';
import { loadArtifacts } from './artifacts.js';
import { copyRootfs, installHostKey, makeKeyPair, makeWorkDisk, type KeyPair } from './guest-fixtures.js';

const BRIDGE = 'banger0';
const SUBNET = '172.16.0.0/24';
const BOOT_TIMEOUT_MS = 180_000;

interface TestVm {
  id: string;
  name: string;
  ip: string;
  tap: string;
  spec: VmSpec;
  handle?: VmHandle;
}

/**
 * Boots two real guests (the debian-minimal test image, the debian-cloud
 * kernel bundle) through the QEMU driver on taps, with the bridge, NAT and
 * leases set up by the real @banger/network code — inside the netns that
 * tools/e2e/netns-run.sh created, so nothing reaches the host's network.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('two VMs on the bridge (inside a throwaway netns)', () => {
  let home: string;
  let client: KeyPair;
  let knownHosts: string;
  let kernelVersion: string;
  let leases: LeaseStore;
  let driver: QemuDriver;
  const vms: TestVm[] = [];

  const ssh = (vm: TestVm, command: string, timeoutMs = 30_000) =>
    run(
      'ssh',
      [
        '-i', client.privatePath,
        '-o', 'StrictHostKeyChecking=yes',
        '-o', `UserKnownHostsFile=${knownHosts}`,
        '-o', 'GlobalKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes',
        '-o', 'PasswordAuthentication=no',
        '-o', 'ConnectTimeout=5',
        '-o', 'LogLevel=ERROR',
        `root@${vm.ip}`,
        command,
      ],
      { timeoutMs, allowFailure: true },
    );

  /** The console's failures (timeouts, failed units) and its last lines, for a boot that went wrong. */
  const consoleTail = (vm: TestVm, lines = 30) => {
    try {
      const all = readFileSync(vm.spec.consoleLogPath, 'utf8').split('\n');
      const failures = all.filter((l) => /Timed out|FAILED|Failed|Dependency failed|banger-initrd/.test(l));
      return [...failures, '--- last lines ---', ...all.slice(-lines)].join('\n');
    } catch {
      return '(no console log)';
    }
  };

  /** Polls ssh until `uname -r` answers; on timeout fails with the console tail. */
  const waitForSsh = async (vm: TestVm): Promise<string> => {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    let last = '';
    while (Date.now() < deadline) {
      const status = await driver.status(vm.handle!);
      if (status.state !== 'running') throw new Error(`${vm.name}: hypervisor ${status.reason}\n--- console ---\n${consoleTail(vm)}`);
      const result = await ssh(vm, 'uname -r', 20_000).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }));
      if (result.exitCode === 0) return result.stdout.trim();
      last = result.stderr.trim();
      await sleep(1_000);
    }
    throw new Error(`${vm.name}: no ssh at ${vm.ip} within ${BOOT_TIMEOUT_MS / 1000} s (last: ${last})\n--- console ---\n${consoleTail(vm)}`);
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    kernelVersion = artifacts.kernelVersion;
    home = mkdtempSync(join(tmpdir(), 'banger-e2e-'));
    knownHosts = join(home, 'known_hosts');
    client = await makeKeyPair(join(home, 'id_ed25519'), 'banger-e2e');
    leases = new LeaseStore(openDatabase(join(home, 'state.db')));
    const choice = await selectHypervisor({ preference: 'qemu' });
    driver = new QemuDriver({ binary: choice.binary, accel: choice.accel });

    // Host side, as the daemon's network steps do it.
    await ensureBridge({ name: BRIDGE, subnet: SUBNET });
    await enableIpForward();
    await ensureNat({ subnet: SUBNET });

    for (const name of ['alpha', 'beta']) {
      const id = `vm_${name}_${process.pid}`;
      const vmDir = join(home, 'vms', id);
      await mkdir(vmDir, { recursive: true });
      const ip = leases.lease(SUBNET, id);
      const net = guestNetworkFor({ ip, hostname: name }, SUBNET);
      const tap = tapNameFor(id);
      await ensureTap({ name: tap, bridge: BRIDGE, ownerUid: process.getuid!() });

      const rootfs = join(vmDir, 'rootfs.ext4');
      await copyRootfs(artifacts.rootfs, rootfs);
      const hostKey = await makeKeyPair(join(vmDir, 'ssh_host_ed25519_key'), `root@${name}`);
      await installHostKey(rootfs, hostKey);
      writeFileSync(knownHosts, `${ip} ${hostKey.publicLine.split(' ').slice(0, 2).join(' ')}\n`, { flag: 'a' });
      const work = join(vmDir, 'work.ext4');
      await makeWorkDisk(work, join(vmDir, 'work-staging'), client.publicLine);

      const spec: VmSpec = {
        id,
        name,
        vcpu: 2,
        memoryMib: 1024,
        kernel: { vmlinux: artifacts.kernel.vmlinux, initrd: artifacts.kernel.initrd },
        bootArgs: `console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0 ${net.bootArg} systemd.hostname=${name} banger.modules=/dev/vdc`,
        disks: [
          { id: 'rootfs', path: rootfs, readOnly: false },
          { id: 'work', path: work, readOnly: false },
          { id: 'modules', path: artifacts.kernel.modules, readOnly: true },
        ],
        net: { tap, mac: net.mac },
        consoleLogPath: join(vmDir, 'console.log'),
        agentSocketPath: join(vmDir, 'agent.sock'),
        vmDir,
      };
      vms.push({ id, name, ip, tap, spec });
    }
    // Both boot at the same time.
    await Promise.all(vms.map(async (vm) => (vm.handle = await driver.start(vm.spec))));
  });

  afterAll(async () => {
    for (const vm of vms) {
      if (vm.handle) await driver.stop(vm.handle, { graceMs: 1_000 }).catch(() => undefined);
      await removeTap(vm.tap).catch(() => undefined);
      leases?.release(vm.id);
    }
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('gives the two VMs different leased addresses and MACs derived from them', () => {
    const [a, b] = vms;
    expect(a!.ip).toBe('172.16.0.2');
    expect(b!.ip).toBe('172.16.0.3');
    expect(a!.spec.net!.mac).toBe('06:00:ac:10:00:02');
    expect(new Set(vms.map((v) => v.tap)).size).toBe(2);
  });

  it('reaches each guest over ssh with key auth and a pinned host key, and the guest runs the bundle kernel', async () => {
    const releases = await Promise.all(vms.map((vm) => waitForSsh(vm)));
    expect(releases).toEqual([kernelVersion, kernelVersion]);
    const hostname = await ssh(vms[0]!, 'hostname');
    expect(hostname.stdout.trim()).toBe('alpha');
    // The work disk is /root and the modules disk is mounted read-only at /lib/modules.
    const mounts = await ssh(vms[0]!, 'findmnt -no SOURCE,OPTIONS /root; findmnt -no SOURCE,OPTIONS /lib/modules; ls /lib/modules');
    expect(mounts.stdout).toMatch(/^\/dev\/vdb\s/m);
    expect(mounts.stdout).toMatch(/^\/dev\/vdc\s+ro[,\s]/m);
    expect(mounts.stdout).toContain(kernelVersion);
  });

  it('refuses the connection when the pinned host key does not match', async () => {
    const other = readFileSync(knownHosts, 'utf8').split('\n')[1]!.split(' ').slice(1).join(' ');
    const wrong = join(home, 'wrong_known_hosts');
    writeFileSync(wrong, `${vms[0]!.ip} ${other}\n`);
    const result = await run(
      'ssh',
      ['-i', client.privatePath, '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${wrong}`, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', `root@${vms[0]!.ip}`, 'true'],
      { allowFailure: true, timeoutMs: 30_000 },
    );
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it('lets the two guests reach each other across the bridge', async () => {
    const [a, b] = vms;
    // debian-minimal ships no ping: open the other guest's sshd with bash's /dev/tcp and read its banner.
    const probe = (ip: string) => `timeout 10 bash -c 'exec 3<>/dev/tcp/${ip}/22; head -c 8 <&3'`;
    expect((await ssh(a!, probe(b!.ip))).stdout).toBe('SSH-2.0-');
    expect((await ssh(b!, probe(a!.ip))).stdout).toBe('SSH-2.0-');
    // And each sees the other in its neighbour table with the MAC derived from the address.
    const neigh = await ssh(a!, `ip neigh show ${b!.ip}`);
    expect(neigh.stdout).toContain('06:00:ac:10:00:03');
  });

  it('masquerades guest egress out of the host, and without the NAT table the reply cannot come back', async () => {
    // An "outside world" for this netns: a second throwaway namespace behind a veth
    // pair, addressed from 198.18.0.0/24 (reserved for benchmarks), with a socat that
    // answers every connection with the source address it sees.
    const outside = `banger-test-${process.pid}-${Date.now() % 100000}`;
    await runPrivileged('ip', ['netns', 'add', outside]);
    let socat: ReturnType<typeof spawn> | undefined;
    try {
      await runPrivileged('ip', ['link', 'add', 'bgup0', 'type', 'veth', 'peer', 'name', 'bgup1']);
      await runPrivileged('ip', ['link', 'set', 'bgup1', 'netns', outside]);
      await runPrivileged('ip', ['addr', 'add', '198.18.0.1/24', 'dev', 'bgup0']);
      await runPrivileged('ip', ['link', 'set', 'bgup0', 'up']);
      await runPrivileged('ip', ['-n', outside, 'addr', 'add', '198.18.0.2/24', 'dev', 'bgup1']);
      await runPrivileged('ip', ['-n', outside, 'link', 'set', 'bgup1', 'up']);
      socat = spawn(isRoot() ? 'ip' : 'sudo', [...(isRoot() ? [] : ['-n', 'ip']), 'netns', 'exec', outside, 'socat', 'TCP-LISTEN:7000,reuseaddr,fork', 'SYSTEM:echo $SOCAT_PEERADDR'], { stdio: 'ignore' });
      await sleep(500);
      const probe = `timeout 8 bash -c 'exec 3<>/dev/tcp/198.18.0.2/7000; head -n1 <&3'`;
      const seen = await ssh(vms[0]!, probe);
      expect(seen.stdout.trim(), seen.stderr).toBe('198.18.0.1');
      // The outside has no route to the guest subnet: only NAT makes the reply find its way.
      await removeNat();
      const withoutNat = await ssh(vms[0]!, probe);
      expect(withoutNat.stdout.trim()).toBe('');
      expect(await ensureNat({ subnet: SUBNET })).toEqual({ changed: true });
      expect((await ssh(vms[0]!, probe)).stdout.trim()).toBe('198.18.0.1');
    } finally {
      socat?.kill('SIGKILL');
      // Whatever still runs in the outside namespace (socat's children, or socat behind sudo).
      const left = (await runPrivileged('ip', ['netns', 'pids', outside], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean);
      if (left.length > 0) await runPrivileged('kill', ['-KILL', ...left], { allowFailure: true });
      await runPrivileged('ip', ['link', 'del', 'bgup0'], { allowFailure: true });
      await runPrivileged('ip', ['netns', 'delete', outside], { allowFailure: true });
    }
  });

  it('notices when a hypervisor process is killed and reports how it ended', async () => {
    const victim = vms[1]!;
    const exited = new Promise<VmStatus>((resolve) => driver.watch(victim.handle!, resolve));
    process.kill(victim.handle!.pid, 'SIGKILL');
    expect(await exited).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    expect(await driver.status(victim.handle!)).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    // The survivor is unaffected.
    expect(await driver.status(vms[0]!.handle!)).toEqual({ state: 'running' });
  });

  it('stops the other VM, and removing the taps and releasing the leases leaves nothing behind', async () => {
    const survivor = vms[0]!;
    const stopped = await driver.stop(survivor.handle!, { graceMs: 3_000 });
    expect(stopped.state).toBe('stopped');
    for (const vm of vms) {
      expect(await removeTap(vm.tap)).toEqual({ changed: true });
      expect(leases.release(vm.id)).toBe(1);
    }
    expect(await listTaps()).toEqual([]);
    expect(leases.leases(SUBNET)).toEqual([]);
  });
});
