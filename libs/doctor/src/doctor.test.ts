import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GiB, defaultConfig, resolvePaths, type BangerConfig } from '@banger/config';
import { findExecutable } from '@banger/host';
import { formatDoctorReport, hostDoctorEnv, runDoctor, type DoctorEnv, type DoctorReport } from './index.js';

// The tools docs/doctor.md promises to check, written out here rather than read from the code under test.
const REQUIRED_TOOLS = ['ip', 'nft', 'mkfs.ext4', 'e2fsck', 'resize2fs', 'debugfs', 'ssh', 'ssh-keygen', 'zstd'];
const OPTIONAL_TOOLS = ['git', 'mmdebstrap'];

const scratch = mkdtempSync(join(tmpdir(), 'banger-doctor-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const paths = resolvePaths({ HOME: scratch, BANGER_HOME: join(scratch, 'home') });
const HOST = { cpus: 8, memoryMib: 16384, stateFsBytes: 100 * GiB };
let dirCount = 0;

/** A fresh PATH directory holding links to the real tools (minus `without`) plus fake shell scripts. */
function fakePath(options: { without?: string[]; scripts?: Record<string, string> } = {}): string {
  const dir = join(scratch, `bin${dirCount++}`);
  mkdirSync(dir);
  for (const name of [...REQUIRED_TOOLS, ...OPTIONAL_TOOLS, 'qemu-system-x86_64', 'sudo', 'sysctl', 'apt-get', 'gpgv', 'dpkg-deb', 'depmod', 'xz', 'tar', 'unshare', 'du', 'umount', 'rm']) {
    if (options.without?.includes(name) || options.scripts?.[name] !== undefined) continue;
    const real = findExecutable(name);
    if (real) symlinkSync(real, join(dir, name));
  }
  for (const [name, body] of Object.entries(options.scripts ?? {})) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return dir;
}

/** The real host environment, restricted to one PATH dir and with the given overrides. */
function env(dir: string, overrides: Partial<DoctorEnv> = {}): Partial<DoctorEnv> {
  return { searchDirs: [dir], ...overrides };
}

const config = (overrides: Partial<BangerConfig> = {}): BangerConfig => ({ ...defaultConfig(), ...overrides });
const check = (report: DoctorReport, id: string) => {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in the report`);
  return found;
};

/** Pretends /dev/kvm is missing, whatever the host has. */
const noKvm: Partial<DoctorEnv> = {
  fileKind: (path) => (path === '/dev/kvm' ? undefined : hostDoctorEnv().fileKind(path)),
};

describe('runDoctor on this machine', () => {
  it('reports the real host: required tools present, a usable hypervisor and ok=true', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST });
    for (const tool of REQUIRED_TOOLS) {
      expect(check(report, `tool.${tool}`), tool).toMatchObject({ status: 'ok', required: true, detail: expect.stringMatching(/^\//) });
    }
    for (const tool of OPTIONAL_TOOLS) expect(check(report, `tool.${tool}`), tool).toMatchObject({ required: false });
    expect(check(report, 'sudo')).toMatchObject({ status: 'ok' });
    expect(check(report, 'tun').status).toBe('ok');
    expect(check(report, 'qemu')).toMatchObject({ status: 'ok', detail: expect.stringContaining('microvm supported') });
    expect(report.hypervisor.usable).toBe(true);
    const kvm = check(report, 'kvm');
    if (!report.hypervisor.usable) throw new Error('unreachable');
    if (kvm.status === 'ok') {
      // A host with working KVM but no Firecracker: QEMU with KVM.
      expect(report.hypervisor).toMatchObject({ kind: 'qemu', accel: 'kvm' });
      expect(check(report, 'hypervisor').status).toBe('ok');
    } else {
      expect(report.hypervisor).toMatchObject({ kind: 'qemu', accel: 'tcg', warning: expect.stringContaining('TCG') });
      expect(check(report, 'hypervisor')).toMatchObject({ status: 'warn', hint: expect.stringContaining('slower') });
    }
    expect(report.ok).toBe(true);
  });

  it('picks QEMU with TCG and warns about speed when /dev/kvm is missing', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: noKvm });
    expect(check(report, 'kvm')).toMatchObject({ status: 'warn', required: false, detail: expect.stringContaining('/dev/kvm does not exist') });
    expect(report.hypervisor).toMatchObject({ usable: true, kind: 'qemu', accel: 'tcg', binary: expect.stringContaining('qemu-system-x86_64') });
    expect(check(report, 'hypervisor')).toMatchObject({ status: 'warn', required: true, detail: expect.stringContaining('qemu with TCG') });
    expect(report.ok).toBe(true);
  });

  it('produces a JSON report with checks, hypervisor, vm_defaults with provenance and ok', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, daemon: async () => ({ ok: true, detail: 'pid 42, version 0.1.0' }) });
    const json = JSON.parse(JSON.stringify(report)) as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['checks', 'configSource', 'host', 'hypervisor', 'ok', 'vmDefaults']);
    expect(json['configSource']).toBe('(defaults)');
    for (const entry of json['checks'] as Array<Record<string, unknown>>) {
      expect(Object.keys(entry).filter((k) => k !== 'hint').sort()).toEqual(['detail', 'id', 'required', 'status', 'title']);
      expect(['ok', 'warn', 'fail']).toContain(entry['status']);
    }
    expect((json['checks'] as Array<{ id: string }>).map((c) => c.id)).toEqual([
      'kvm', 'firecracker', 'qemu', 'hypervisor', 'sudo',
      ...[...REQUIRED_TOOLS, ...OPTIONAL_TOOLS].map((t) => `tool.${t}`),
      'build', 'tun', 'bridge-subnet', 'disk', 'ssh-key', 'file-sync', 'vm-defaults', 'daemon',
    ]);
    expect(json['vmDefaults']).toEqual({
      vcpu: { value: 2, source: 'host', detail: 'cpus/4' },
      memoryMib: { value: 2048, source: 'host', detail: 'ram/8' },
      diskBytes: { value: 8 * GiB, source: 'host', detail: 'state fs/4, capped at 8 GiB' },
    });
    expect(json['hypervisor']).toMatchObject({ preference: 'auto', usable: true, kind: 'qemu', reason: expect.any(String) });
    expect(check(report, 'daemon')).toMatchObject({ status: 'ok', detail: 'pid 42, version 0.1.0' });
  });
});

describe('runDoctor with an injected environment', () => {
  it('fails a required tool missing from PATH with an install hint, and report.ok is false', async () => {
    const dir = fakePath({ without: ['zstd'] });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir) });
    expect(check(report, 'tool.zstd')).toEqual({
      id: 'tool.zstd',
      title: 'zstd',
      required: true,
      status: 'fail',
      detail: 'not found on PATH (needed for unpacking image and kernel bundles)',
      hint: 'install it: sudo apt-get install zstd',
    });
    expect(check(report, 'tool.ip').status).toBe('ok');
    expect(report.ok).toBe(false);
    const text = formatDoctorReport(report, { color: false });
    expect(text).toMatch(/^ {2}✗ zstd +not found on PATH \(needed for unpacking image and kernel bundles\)$/m);
    expect(text).toMatch(/^ +hint: install it: sudo apt-get install zstd$/m);
    expect(text).toContain('1 required check failed: banger cannot run VMs on this host until it is fixed');
  });

  it('only warns when an optional tool is missing', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(fakePath({ without: ['git', 'mmdebstrap'] })) });
    expect(check(report, 'tool.git')).toMatchObject({ status: 'warn', required: false, hint: 'install it: sudo apt-get install git' });
    expect(report.ok).toBe(true);
  });

  it('fails the hypervisor check when neither Firecracker nor QEMU can be found', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(fakePath({ without: ['qemu-system-x86_64'] })) });
    expect(check(report, 'qemu')).toMatchObject({ status: 'warn', hint: 'install it: sudo apt-get install qemu-system-x86' });
    expect(check(report, 'hypervisor')).toMatchObject({ status: 'fail', detail: expect.stringContaining('qemu-system-x86_64 is not on PATH') });
    expect(report.hypervisor).toMatchObject({ usable: false, error: { code: 'HYPERVISOR_UNAVAILABLE' } });
    expect(report.ok).toBe(false);
  });

  it('requires Firecracker when the config asks for it and names the minimum version', async () => {
    const dir = fakePath({ scripts: { firecracker: 'echo "Firecracker v1.7.0"' } });
    const report = await runDoctor({ config: config({ hypervisor: 'firecracker' }), paths, host: HOST, env: env(dir) });
    expect(check(report, 'firecracker')).toMatchObject({
      required: true,
      status: 'fail',
      detail: `${dir}/firecracker is Firecracker 1.7.0; banger needs ≥ 1.8.0 (ACPI virtio-mmio discovery for the Debian kernel)`,
    });
    expect(check(report, 'hypervisor').status).toBe('fail');
    expect(report.ok).toBe(false);
  });

  it('lets auto pick a recent Firecracker from firecracker_bin when KVM works', async () => {
    const dir = fakePath({ scripts: { 'fc-1.10': 'echo "Firecracker v1.10.1"' } });
    const real = hostDoctorEnv();
    const kvmWorks: Partial<DoctorEnv> = {
      fileKind: (path) => (path === '/dev/kvm' ? 'char-device' : real.fileKind(path)),
      canReadWrite: (path) => path === '/dev/kvm' || real.canReadWrite(path),
      cpuinfo: () => 'flags\t\t: fpu vme vmx sse2',
      // The functional KVM probe runs `qemu -accel kvm`; answer it as a KVM host would.
      exec: async (binary, args, options) => (args.includes('-accel') ? { exitCode: 0, stdout: '', stderr: '' } : real.exec(binary, args, options)),
    };
    const report = await runDoctor({ config: config({ firecrackerBin: `${dir}/fc-1.10` }), paths, host: HOST, env: env(dir, kvmWorks) });
    expect(check(report, 'firecracker')).toMatchObject({ status: 'ok', detail: `${dir}/fc-1.10, version 1.10.1` });
    expect(report.hypervisor).toMatchObject({ kind: 'firecracker', accel: 'kvm', version: '1.10.1' });
    // 1.10 boots VMs but cannot give a restored warm template its own agent socket (1.16): said here, once.
    expect(check(report, 'hypervisor')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(new RegExp(`^firecracker with KVM.*; warm start is off: ${dir}/fc-1.10 is Firecracker 1.10.1; restoring a warm template needs ≥ 1.16.0$`)),
    });
    const recent = fakePath({ scripts: { 'fc-1.16': 'echo "Firecracker v1.16.1"' } });
    const again = await runDoctor({ config: config({ firecrackerBin: `${recent}/fc-1.16` }), paths, host: HOST, env: env(recent, kvmWorks) });
    expect(check(again, 'hypervisor')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^firecracker with KVM/) });
    const quiet = await runDoctor({ config: config({ firecrackerBin: `${dir}/fc-1.10`, warmStart: false }), paths, host: HOST, env: env(dir, kvmWorks) });
    expect(check(quiet, 'hypervisor').status).toBe('ok');
  });

  it('warns that KVM cannot create VMs when the device exists but QEMU fails to use it', async () => {
    const real = hostDoctorEnv();
    const brokenKvm: Partial<DoctorEnv> = {
      fileKind: (path) => (path === '/dev/kvm' ? 'char-device' : real.fileKind(path)),
      canReadWrite: (path) => path === '/dev/kvm' || real.canReadWrite(path),
      cpuinfo: () => 'flags\t\t: fpu vme svm sse2',
      exec: async (binary, args, options) =>
        args.includes('-accel')
          ? { exitCode: 134, stdout: '', stderr: 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed.\n' }
          : real.exec(binary, args, options),
    };
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: brokenKvm });
    expect(check(report, 'kvm')).toMatchObject({ status: 'warn', detail: expect.stringContaining('/dev/kvm is accessible but KVM cannot run a guest (failed to set MSR 0x10a to 0x69)') });
    expect(report.hypervisor).toMatchObject({ kind: 'qemu', accel: 'tcg', reason: expect.stringContaining('failed to set MSR') });
  });

  it('warns without starting QEMU when the CPU exposes no VT-x/AMD-V', async () => {
    const real = hostDoctorEnv();
    const started: string[][] = [];
    const noFlags: Partial<DoctorEnv> = {
      fileKind: (path) => (path === '/dev/kvm' ? 'char-device' : real.fileKind(path)),
      canReadWrite: (path) => path === '/dev/kvm' || real.canReadWrite(path),
      cpuinfo: () => 'flags\t\t: fpu vme sse2 hypervisor',
      exec: async (binary, args, options) => {
        started.push([...args]);
        return real.exec(binary, args, options);
      },
    };
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: noFlags });
    expect(check(report, 'kvm')).toMatchObject({ status: 'warn', detail: expect.stringContaining('the CPU exposes no VT-x/AMD-V') });
    expect(started.some((args) => args.includes('-accel'))).toBe(false);
    expect(report.hypervisor).toMatchObject({ kind: 'qemu', accel: 'tcg' });
  });

  it('flags a QEMU without the microvm machine type', async () => {
    const dir = fakePath({
      scripts: { 'qemu-system-x86_64': 'case "$1" in --version) echo "QEMU emulator version 4.0.0";; -machine) echo "pc  Standard PC"; echo "q35  Q35";; esac' },
    });
    const report = await runDoctor({ config: config({ hypervisor: 'qemu' }), paths, host: HOST, env: env(dir, noKvm) });
    expect(check(report, 'qemu')).toMatchObject({ required: true, status: 'fail', detail: `${dir}/qemu-system-x86_64 (4.0.0) has no microvm machine type` });
    expect(report.ok).toBe(false);
  });

  it('fails sudo when not root and sudo -n wants a password', async () => {
    const dir = fakePath({ scripts: { sudo: 'echo "sudo: a password is required" >&2; exit 1' } });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir, { isRoot: false }) });
    expect(check(report, 'sudo')).toMatchObject({
      status: 'fail',
      detail: 'sudo -n refuses to run privileged commands (sudo: a password is required)',
      hint: expect.stringContaining('passwordless sudo for ip, nft and sysctl'),
    });
    expect(report.ok).toBe(false);
  });

  it('accepts sudo when exactly the network commands are allowed without a password', async () => {
    const dir = fakePath({ scripts: { sudo: '[ "$2" = "-l" ] && exit 0; exit 1' } });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir, { isRoot: false }) });
    expect(check(report, 'sudo')).toMatchObject({ status: 'ok', detail: 'sudo -n may run ip, nft, sysctl without a password' });
  });

  it('names the network command sudoers leaves out', async () => {
    const dir = fakePath({ scripts: { sudo: 'case "$3" in */nft) exit 1;; esac; [ "$2" = "-l" ] && exit 0; exit 1' } });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir, { isRoot: false }) });
    expect(check(report, 'sudo')).toMatchObject({ status: 'fail', detail: `sudo -n refuses ${dir}/nft (allowed: ip, sysctl)` });
    expect(report.ok).toBe(false);
  });

  it('says the host can build images and kernels when every build tool and the keyring are there', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(fakePath()) });
    expect(check(report, 'build')).toMatchObject({ status: 'ok', required: false, detail: 'can build images and kernels from the official Debian mirror' });
  });

  it('names each missing build tool and the missing keyring, and only warns', async () => {
    const dir = fakePath({ without: ['mmdebstrap', 'gpgv'] });
    const report = await runDoctor({ config: config({ debianKeyring: '/nonexistent/keys.gpg' }), paths, host: HOST, env: env(dir) });
    expect(check(report, 'build')).toMatchObject({
      status: 'warn',
      required: false,
      detail:
        'cannot build images or kernels locally (needed when no published bundle is reachable): missing mmdebstrap (image builds); gpgv (checking the Debian mirror signature); keyring /nonexistent/keys.gpg',
      hint: 'install it: sudo apt-get install mmdebstrap; install it: sudo apt-get install gpgv; fix debian_keyring in config.toml',
    });
  });

  it('names the privileged build commands sudo -n refuses when not root', async () => {
    // sudoers allows ip and nft only (the old documented rule): the build commands are refused.
    const dir = fakePath({ scripts: { sudo: 'case "$3" in */ip|*/nft) exit 0;; esac; exit 1' } });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir, { isRoot: false }) });
    expect(check(report, 'build')).toMatchObject({
      status: 'warn',
      detail: 'cannot build images or kernels locally (needed when no published bundle is reachable): missing sudo -n for mmdebstrap, mkfs.ext4, tar, du, umount, rm, unshare',
      hint: 'add them to the sudoers rule in docs/privileges.md',
    });
  });

  describe('the leftovers check', () => {
    const leftovers = async (found: Awaited<ReturnType<NonNullable<Parameters<typeof runDoctor>[0]['orphans']>>>) =>
      check(await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(fakePath()), orphans: async () => found }), 'orphans');

    it('warns with each leftover the daemon found and points at doctor --fix; not required', async () => {
      expect(
        await leftovers([
          { kind: 'tap', name: 'bgr-1', detail: 'tap bgr-1 belongs to no VM' },
          { kind: 'lease', name: '172.16.0.9', detail: 'lease of 172.16.0.9 is held by vm_x, which is no VM' },
        ]),
      ).toMatchObject({
        status: 'warn',
        required: false,
        detail: '2 leftovers: tap bgr-1 belongs to no VM; lease of 172.16.0.9 is held by vm_x, which is no VM',
        hint: 'banger doctor --fix removes them',
      });
    });

    it('is ok with none, and says it did not look when no daemon runs', async () => {
      expect(await leftovers([])).toMatchObject({ status: 'ok' });
      expect(await leftovers(undefined)).toMatchObject({ status: 'ok', detail: 'not checked: bangerd is not running' });
    });
  });

  describe('the first-run check', () => {
    const res = (name: string, installed: boolean, source: 'bundle' | 'recipe' | 'none') => ({ name, installed, source });
    const firstRun = async (plan: Awaited<ReturnType<NonNullable<Parameters<typeof runDoctor>[0]['firstRun']>>>, dir = fakePath(), extra: Partial<DoctorEnv> = {}) =>
      check(await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir, extra), firstRun: async () => plan }), 'first-run');

    it('says the first run starts from what is installed', async () => {
      expect(await firstRun({ image: res('debian-bookworm', true, 'recipe'), kernel: res('debian-cloud', true, 'recipe') })).toMatchObject({
        status: 'ok',
        required: true,
        detail: 'image debian-bookworm is installed; kernel debian-cloud is installed',
      });
    });

    it('says what is pulled and what is built, and that this host has what the build needs', async () => {
      expect(await firstRun({ image: res('debian-bookworm', false, 'bundle'), kernel: res('debian-cloud', false, 'recipe') })).toMatchObject({
        status: 'ok',
        detail: 'image debian-bookworm is pulled (published bundle); kernel debian-cloud is built from its recipe; this host has what the build needs',
      });
    });

    it('fails naming what a needed build lacks, before the run would fail', async () => {
      const result = await firstRun({ image: res('debian-bookworm', false, 'recipe'), kernel: res('debian-cloud', true, 'recipe') }, fakePath({ without: ['mmdebstrap'] }));
      expect(result).toMatchObject({
        status: 'fail',
        detail: 'image debian-bookworm is built from its recipe; kernel debian-cloud is installed, but the build lacks mmdebstrap (image builds)',
        hint: 'install it: sudo apt-get install mmdebstrap',
      });
    });

    it('needs nothing for a build when everything comes from bundles', async () => {
      const result = await firstRun({ image: res('debian-bookworm', false, 'bundle'), kernel: res('debian-cloud', false, 'bundle') }, fakePath({ without: ['mmdebstrap', 'gpgv'] }));
      expect(result).toMatchObject({ status: 'ok', detail: 'image debian-bookworm is pulled (published bundle); kernel debian-cloud is pulled (published bundle)' });
    });

    it('names the registry reference when a default is pulled from an oci:// catalog entry', async () => {
      const image = { ...res('debian-bookworm', false, 'bundle'), reference: 'oci://127.0.0.1:5000/banger/golden:1' };
      expect(await firstRun({ image, kernel: res('debian-cloud', true, 'recipe') }, fakePath({ without: ['mmdebstrap'] }))).toMatchObject({
        status: 'ok',
        detail: 'image debian-bookworm is pulled (published bundle from oci://127.0.0.1:5000/banger/golden:1); kernel debian-cloud is installed',
      });
    });

    it('fails when the default image is in no catalog', async () => {
      expect(await firstRun({ image: res('nope', false, 'none'), kernel: res('debian-cloud', true, 'recipe') })).toMatchObject({
        status: 'fail',
        detail: 'image nope is in no catalog; kernel debian-cloud is installed',
      });
    });

    it('does not guess when no daemon runs', async () => {
      expect(await firstRun(undefined)).toMatchObject({ status: 'ok', detail: 'not checked: the daemon is not running (it knows the catalogs)' });
    });
  });

  it('fails without /dev/net/tun', async () => {
    const real = hostDoctorEnv();
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: { fileKind: (p) => (p === '/dev/net/tun' ? undefined : real.fileKind(p)) } });
    expect(check(report, 'tun')).toMatchObject({ status: 'fail', hint: expect.stringContaining('modprobe tun') });
    expect(report.ok).toBe(false);
  });

  it.each([
    [1 * GiB, 'fail'],
    [5 * GiB, 'warn'],
    [50 * GiB, 'ok'],
  ] as const)('rates %d free bytes in the state dir as %s', async (freeBytes, status) => {
    const report = await runDoctor({
      config: defaultConfig(),
      paths,
      host: HOST,
      env: { diskSpace: () => ({ freeBytes, totalBytes: 100 * GiB, probed: paths.stateDir }) },
    });
    expect(check(report, 'disk').status).toBe(status);
    expect(check(report, 'disk').detail).toMatch(new RegExp(`^\\d+ GiB free of 100 GiB at ${paths.stateDir}`));
  });

  it('fails a bridge subnet that overlaps a host route', async () => {
    const routes = '[{"dst":"default","dev":"eth0"},{"dst":"172.16.0.0/16","dev":"docker1"},{"dst":"172.16.0.0/24","dev":"banger0"}]';
    const dir = fakePath({ scripts: { ip: `echo '${routes}'` } });
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST, env: env(dir) });
    expect(check(report, 'bridge-subnet')).toMatchObject({
      status: 'fail',
      detail: '172.16.0.0/24 overlaps the host route 172.16.0.0/16 on docker1',
      hint: expect.stringContaining('bridge_subnet'),
    });
    const free = await runDoctor({ config: config({ bridgeSubnet: '10.213.0.0/24' }), paths, host: HOST, env: env(dir) });
    expect(check(free, 'bridge-subnet').status).toBe('ok');
  });

  it('warns, without failing, when the daemon is down or its probe throws', async () => {
    const down = await runDoctor({ config: defaultConfig(), paths, host: HOST, daemon: async () => ({ ok: false, detail: 'not running' }) });
    expect(check(down, 'daemon')).toMatchObject({ status: 'warn', required: false, hint: expect.stringContaining(paths.logFile) });
    const broken = await runDoctor({ config: defaultConfig(), paths, host: HOST, daemon: async () => Promise.reject(new Error('socket refused')) });
    expect(check(broken, 'daemon')).toMatchObject({ status: 'warn', detail: 'socket refused' });
  });
});

describe('config-driven checks', () => {
  it('fails a configured ssh_key_path that does not exist, and accepts one with its .pub', async () => {
    const key = join(scratch, 'id_test');
    const missing = await runDoctor({ config: config({ sshKeyPath: key }), paths, host: HOST });
    expect(check(missing, 'ssh-key')).toMatchObject({ status: 'fail', detail: `ssh_key_path = "${key}" does not exist`, hint: expect.stringContaining('ssh-keygen') });
    expect(missing.ok).toBe(false);
    writeFileSync(key, 'private');
    const noPub = await runDoctor({ config: config({ sshKeyPath: key }), paths, host: HOST });
    expect(check(noPub, 'ssh-key').detail).toContain(`has no public key ${key}.pub`);
    writeFileSync(`${key}.pub`, 'public');
    const good = await runDoctor({ config: config({ sshKeyPath: key }), paths, host: HOST });
    expect(check(good, 'ssh-key')).toMatchObject({ status: 'ok', detail: `${key} (from ssh_key_path)` });
  });

  it('accepts a missing managed key because banger creates it on first use', async () => {
    const report = await runDoctor({ config: defaultConfig(), paths, host: HOST });
    expect(check(report, 'ssh-key')).toMatchObject({ status: 'ok', detail: `managed key ${paths.sshDir}/id_ed25519 (created on first use)` });
  });

  it('warns about file_sync host paths that do not exist', async () => {
    const fileSync = [
      { host: scratch, guest: '/root/here' },
      { host: join(scratch, 'nope'), guest: '/root/nope' },
    ];
    const report = await runDoctor({ config: config({ fileSync }), paths, host: HOST });
    expect(check(report, 'file-sync')).toMatchObject({ status: 'warn', required: false, detail: `host path missing: entry 2: ${join(scratch, 'nope')}` });
    expect(report.ok).toBe(true);
  });
});

describe('vm_defaults check', () => {
  it('warns when configured vm_defaults exceed the host CPUs or RAM', async () => {
    const report = await runDoctor({ config: config({ vmDefaults: { vcpu: 16, memoryMib: 32768 } }), paths, host: HOST });
    expect(check(report, 'vm-defaults')).toMatchObject({
      status: 'warn',
      required: false,
      detail: 'vcpu = 16 but the host has 8 CPUs; memory_mib = 32768 but the host has 16 GiB of RAM',
    });
    expect(report.vmDefaults.vcpu).toEqual({ value: 16, source: 'config', detail: 'vm_defaults.vcpu' });
  });
});

describe('formatDoctorReport', () => {
  const report: DoctorReport = {
    ok: false,
    configSource: '/home/ada/.config/banger/config.toml',
    checks: [
      { id: 'kvm', title: '/dev/kvm', required: false, status: 'warn', detail: '/dev/kvm does not exist', hint: 'enable KVM' },
      { id: 'tool.ip', title: 'ip', required: true, status: 'ok', detail: '/usr/sbin/ip (6.1.0)' },
      { id: 'tool.nft', title: 'nft', required: true, status: 'fail', detail: 'not found on PATH', hint: 'install it: sudo apt-get install nftables' },
    ],
    hypervisor: { preference: 'auto', usable: true, kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64', reason: 'no kvm' },
    vmDefaults: {
      vcpu: { value: 2, source: 'host', detail: 'cpus/4' },
      memoryMib: { value: 4096, source: 'config', detail: 'vm_defaults.memory_mib' },
      diskBytes: { value: 4 * GiB, source: 'builtin', detail: 'floor of 4 GiB; state fs/4 = 2 GiB' },
    },
    host: { cpus: 8, memoryMib: 16384, stateFsBytes: 10 * GiB },
  };

  it('aligns checks with marks, indents hints and prints vm_defaults with provenance', () => {
    expect(formatDoctorReport(report, { color: false })).toBe(
      [
        'config: /home/ada/.config/banger/config.toml',
        '',
        '  ! /dev/kvm  /dev/kvm does not exist (optional)',
        '              hint: enable KVM',
        '  ✓ ip        /usr/sbin/ip (6.1.0)',
        '  ✗ nft       not found on PATH',
        '              hint: install it: sudo apt-get install nftables',
        '',
        '1 required check failed: banger cannot run VMs on this host until it is fixed',
        '',
        'vm_defaults (new VMs when --vcpu/--memory/--disk-size are not given):',
        '  vcpu        2      host     cpus/4',
        '  memory_mib  4096   config   vm_defaults.memory_mib',
        '  disk_size   4 GiB  builtin  floor of 4 GiB; state fs/4 = 2 GiB',
        '  host: 8 cpus, 16 GiB RAM, state fs 10 GiB; set [vm_defaults] in config.toml to override',
        '',
      ].join('\n'),
    );
  });

  it('colours marks only when asked and offers plain words', () => {
    expect(formatDoctorReport(report, { color: false })).not.toContain('\u001b[');
    expect(formatDoctorReport(report, { color: true })).toContain('\u001b[31m✗\u001b[0m');
    expect(formatDoctorReport(report, { color: false, ascii: true })).toContain('  FAIL nft       not found on PATH');
  });

  it('ends with the hypervisor in the verdict when everything required passed', () => {
    const text = formatDoctorReport({ ...report, ok: true, checks: report.checks.slice(0, 2) }, { color: false });
    expect(text).toContain('banger can run VMs on this host with qemu/tcg (1 warning)');
  });
});
