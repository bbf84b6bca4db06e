import { readFileSync, statSync } from 'node:fs';
import { UserError } from '@banger/errors';
import { findExecutable, kvmUsable, run } from '@banger/host';

/** Which hypervisor the user asked for (`hypervisor` config key). */
export type HypervisorPreference = 'auto' | 'firecracker' | 'qemu';

/** Oldest Firecracker release whose API this driver speaks. */
export const MIN_FIRECRACKER_VERSION = '1.8.0';

/**
 * The hypervisor banger will use and why; `doctor` and `vm show` print
 * `reason` (and `warning` when set) verbatim.
 */
export interface HypervisorChoice {
  kind: 'firecracker' | 'qemu';
  accel: 'kvm' | 'tcg';
  /** Absolute path of the executable to spawn. */
  binary: string;
  /** The binary's version as it reports it (`1.10.1`, `8.2.2`), when it could be read. */
  version?: string;
  /** One sentence: why this one was picked. */
  reason: string;
  /** One line the user should see, e.g. that TCG is slow. */
  warning?: string;
}

/** Host facts selectHypervisor() looks at; injectable so tests need no /dev/kvm or binaries. */
export interface HypervisorProbe {
  /** Why KVM cannot run guests here, or undefined when it can. */
  kvmProblem(): string | undefined;
  /** Absolute path of an executable (name or path), or undefined. */
  findExecutable(nameOrPath: string): string | undefined;
  /** The output of `<binary> --version`; undefined when it cannot be run. */
  versionOutput(binary: string): Promise<string | undefined>;
}

export interface SelectHypervisorOptions {
  preference: HypervisorPreference;
  /** `firecracker_bin` from the config: a path or a name looked up on PATH. */
  firecrackerBin?: string;
  /** A qemu-system-x86_64 path or name; defaults to `qemu-system-x86_64` on PATH. */
  qemuBin?: string;
  probe?: Partial<HypervisorProbe>;
}

/**
 * Why KVM cannot run guests on this host, or undefined when it can. Checks
 * more than /dev/kvm's permissions: a VM without nested virtualisation can
 * have a /dev/kvm node while its CPU lacks VT-x/AMD-V, and QEMU then aborts
 * ("failed to set MSR 0x10a") or hangs with no guest output (measured here).
 */
export function kvmProblem(cpuinfo = readCpuinfo()): string | undefined {
  if (!kvmUsable()) return '/dev/kvm is missing or not readable and writable by this user';
  if (cpuinfo && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo)) {
    return '/dev/kvm exists but the CPU exposes no VT-x/AMD-V (no vmx/svm flag in /proc/cpuinfo; nested virtualisation is off)';
  }
  return undefined;
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

const hostProbe: HypervisorProbe = {
  kvmProblem: () => kvmProblem(),
  findExecutable: (name) => findExecutable(name),
  versionOutput: (binary) => memoisedVersionOutput(binary),
};

/**
 * `<binary> --version`, run once per binary file: the daemon selects the
 * hypervisor at every create and again at every boot, and starting QEMU to
 * print its version costs 50–80 ms each time, before QEMU proper can start
 * (issue 19). Keyed by the file's identity (device, inode, size, mtime), so an
 * upgraded or replaced binary is asked again.
 */
const versionOutputs = new Map<string, Promise<string | undefined>>();
function memoisedVersionOutput(binary: string): Promise<string | undefined> {
  let key: string;
  try {
    const info = statSync(binary);
    key = `${binary}\0${info.dev}\0${info.ino}\0${info.size}\0${info.mtimeMs}`;
  } catch {
    return Promise.resolve(undefined);
  }
  let output = versionOutputs.get(key);
  if (!output) {
    output = run(binary, ['--version'], { timeoutMs: 10_000, allowFailure: true }).then(
      (result) => `${result.stdout}\n${result.stderr}`,
      () => undefined,
    );
    versionOutputs.set(key, output);
    // A binary that could not be run is asked again next time (it may be fixed meanwhile).
    void output.then((text) => {
      if (text === undefined) versionOutputs.delete(key);
    });
  }
  return output;
}

/** Extracts the first dotted version number from `firecracker --version` / `qemu --version` output. */
export function parseVersion(output: string | undefined): string | undefined {
  return output ? /(\d+\.\d+(?:\.\d+)?)/.exec(output)?.[1] : undefined;
}

/** True when dotted version `a` is at least `b` (missing parts count as 0). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

interface FirecrackerFinding {
  binary?: string;
  version?: string;
  /** Why Firecracker is not usable, when it is not. */
  problem?: string;
}

async function findFirecracker(probe: HypervisorProbe, bin: string | undefined): Promise<FirecrackerFinding> {
  const wanted = bin ?? 'firecracker';
  const binary = probe.findExecutable(wanted);
  if (!binary) {
    return { problem: bin ? `firecracker_bin = ${bin} is not an executable file` : 'no firecracker binary on PATH' };
  }
  const version = parseVersion(await probe.versionOutput(binary));
  if (!version) return { binary, problem: `could not read the version of ${binary} (--version failed)` };
  if (!versionAtLeast(version, MIN_FIRECRACKER_VERSION)) {
    return { binary, version, problem: `${binary} is Firecracker ${version}, banger needs ≥ ${MIN_FIRECRACKER_VERSION}` };
  }
  return { binary, version };
}

async function findQemu(probe: HypervisorProbe, bin: string | undefined): Promise<{ binary?: string; version?: string }> {
  const binary = probe.findExecutable(bin ?? 'qemu-system-x86_64');
  if (!binary) return {};
  return { binary, version: parseVersion(await probe.versionOutput(binary)) };
}

const TCG_WARNING = 'no usable KVM: VMs run under QEMU TCG emulation, which is much slower (a Debian guest takes 15–30 s to boot)';

function qemuChoice(binary: string, version: string | undefined, kvm: boolean, why: string): HypervisorChoice {
  return {
    kind: 'qemu',
    accel: kvm ? 'kvm' : 'tcg',
    binary,
    ...(version ? { version } : {}),
    reason: why,
    ...(kvm ? {} : { warning: TCG_WARNING }),
  };
}

function qemuMissing(bin: string | undefined, preference: HypervisorPreference, extra = ''): UserError {
  const what = bin ? `qemu binary ${bin} is not an executable file` : 'qemu-system-x86_64 is not on PATH';
  return new UserError('HYPERVISOR_UNAVAILABLE', `hypervisor = ${preference}: ${what}${extra}`, {
    hint: 'install it: sudo apt-get install qemu-system-x86',
  });
}

/**
 * Picks the hypervisor for new VMs.
 *
 * - `auto`: Firecracker when /dev/kvm is usable and a Firecracker ≥ 1.8 is found
 *   (`firecrackerBin` or PATH); else QEMU with KVM; else QEMU with TCG, with a warning.
 * - `firecracker` / `qemu`: that one, or a UserError saying why it cannot be used.
 */
export async function selectHypervisor(options: SelectHypervisorOptions): Promise<HypervisorChoice> {
  const probe: HypervisorProbe = { ...hostProbe, ...options.probe };
  const kvmWhyNot = probe.kvmProblem();
  const kvm = kvmWhyNot === undefined;
  const { preference } = options;

  if (preference === 'firecracker') {
    if (!kvm) {
      throw new UserError('HYPERVISOR_UNAVAILABLE', `hypervisor = firecracker needs /dev/kvm: ${kvmWhyNot}`, {
        hint: 'enable KVM (and add your user to the kvm group), or set hypervisor = qemu',
      });
    }
    const fc = await findFirecracker(probe, options.firecrackerBin);
    if (fc.problem || !fc.binary || !fc.version) {
      throw new UserError('HYPERVISOR_UNAVAILABLE', `hypervisor = firecracker: ${fc.problem ?? 'not found'}`, {
        hint: `install Firecracker ≥ ${MIN_FIRECRACKER_VERSION} and put it on PATH or set firecracker_bin, or set hypervisor = qemu`,
      });
    }
    return { kind: 'firecracker', accel: 'kvm', binary: fc.binary, version: fc.version, reason: `hypervisor = firecracker; /dev/kvm is usable and ${fc.binary} is Firecracker ${fc.version}` };
  }

  if (preference === 'qemu') {
    const q = await findQemu(probe, options.qemuBin);
    if (!q.binary) throw qemuMissing(options.qemuBin, preference);
    return qemuChoice(q.binary, q.version, kvm, kvm ? 'hypervisor = qemu; /dev/kvm is usable so QEMU runs with KVM' : `hypervisor = qemu; QEMU runs with TCG emulation because ${kvmWhyNot}`);
  }

  if (preference !== 'auto') {
    throw new UserError('CONFIG_INVALID_VALUE', `hypervisor = ${String(preference)}: expected auto, firecracker or qemu`);
  }

  let fcProblem = kvmWhyNot ?? '';
  if (kvm) {
    const fc = await findFirecracker(probe, options.firecrackerBin);
    if (!fc.problem && fc.binary && fc.version) {
      return { kind: 'firecracker', accel: 'kvm', binary: fc.binary, version: fc.version, reason: `/dev/kvm is usable and ${fc.binary} is Firecracker ${fc.version}` };
    }
    fcProblem = fc.problem ?? 'firecracker not found';
  }
  const q = await findQemu(probe, options.qemuBin);
  if (!q.binary) throw qemuMissing(options.qemuBin, preference, ` and Firecracker is not usable (${fcProblem})`);
  return qemuChoice(q.binary, q.version, kvm, `Firecracker is not usable (${fcProblem}), so QEMU with ${kvm ? 'KVM' : 'TCG emulation'}`);
}
