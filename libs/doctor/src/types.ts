import type { DnsStatus } from '@banger/api';
import type { BangerConfig, BangerPaths, HostFacts, ResolvedVmDefaults } from '@banger/config';
import type { HypervisorChoice } from '@banger/hypervisor';

/** ok: fine; warn: works, but worse than it could (or a feature is unavailable); fail: broken. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** What one check found. `detail` is one line; `hint` says what to do about a warn/fail. */
export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
  hint?: string;
}

/**
 * One host requirement, as data (after Lima's `requirement` list): the doctor
 * runs every check, and a failing `required` check means banger cannot run
 * VMs on this host. Checks never throw; an unexpected error becomes a fail.
 */
export interface DoctorCheck {
  /** Stable machine id (`kvm`, `tool.mkfs.ext4`, `disk`), kept in `--json`. */
  id: string;
  /** Short human label shown in the report's first column. */
  title: string;
  required: boolean;
  run(): Promise<CheckOutcome>;
}

/** A check's outcome in the report. */
export interface DoctorCheckResult extends CheckOutcome {
  id: string;
  title: string;
  required: boolean;
}

/** The hypervisor `hypervisor = <preference>` resolves to on this host, or why none can be used. */
export type DoctorHypervisor =
  | ({ preference: BangerConfig['hypervisor']; usable: true } & HypervisorChoice)
  | { preference: BangerConfig['hypervisor']; usable: false; error: { code: string; message: string; hint?: string } };

/** Everything `banger doctor` reports; `--json` prints this object as is. */
export interface DoctorReport {
  /** False when any required check failed: `banger doctor` then exits non-zero. */
  ok: boolean;
  checks: DoctorCheckResult[];
  hypervisor: DoctorHypervisor;
  /** The effective sizing of new VMs with provenance per value. */
  vmDefaults: ResolvedVmDefaults;
  /** The host facts the vm_defaults heuristics used. */
  host: HostFacts;
  /** The config file that was read, or `(defaults)`. */
  configSource: string;
}

/** The daemon probe the CLI passes in: whether bangerd answers, and a one-line status. */
export type DaemonProbe = () => Promise<{ ok: boolean; detail: string }>;

/**
 * What the DNS check needs from a running daemon: its `dns.status` and one VM
 * with an address to resolve (a running one preferably; stopped VMs keep
 * their lease and their record). The probe returns undefined when no daemon
 * runs: the CLI builds it from `dns.status` + `vm.list` only when bangerd
 * already answers, since the doctor never starts it.
 */
export type DnsProbe = () => Promise<{ vm?: { name: string; ip: string }; status: DnsStatus } | undefined>;

/** One default resource of the first `vm run`: installed, or where it would come from. */
export interface FirstRunResource {
  name: string;
  installed: boolean;
  /** From the catalog: a published bundle (a URL, or an `oci://` reference in `reference`), a recipe build, or no entry at all. */
  source: 'bundle' | 'recipe' | 'none';
  /** The entry's `oci://` reference when the bundle is pulled from a registry. */
  reference?: string;
}

/** The default image and kernel as a running daemon sees them; undefined when no daemon runs. */
export type FirstRunProbe = () => Promise<{ image: FirstRunResource; kernel: FirstRunResource } | undefined>;

/** A leftover as the daemon's `vm.orphans` reports it. */
export interface OrphanFinding {
  kind: string;
  name: string;
  detail: string;
}

/** The daemon's list of leaked or orphaned resources; undefined when no daemon runs. */
export type OrphansProbe = () => Promise<OrphanFinding[] | undefined>;

export interface RunDoctorOptions {
  config: BangerConfig;
  paths: BangerPaths;
  /** Omitted: no daemon check (e.g. when the daemon itself runs the doctor). */
  daemon?: DaemonProbe;
  /** Omitted: no `.vm` DNS check (e.g. when the daemon itself runs the doctor). */
  dns?: DnsProbe;
  /** Omitted: no first-run check. */
  firstRun?: FirstRunProbe;
  /** Omitted: no leftovers check. */
  orphans?: OrphansProbe;
  /** Replaces parts of the host environment the checks look at (tests). */
  env?: Partial<import('./env.js').DoctorEnv>;
  /** Host facts for vm_defaults; default: this host's. */
  host?: HostFacts;
}
