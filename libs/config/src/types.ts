/** Which VMM runs guests: `auto` prefers Firecracker on KVM, else QEMU. */
export type HypervisorPreference = 'auto' | 'firecracker' | 'qemu';

/** One `[[file_sync]]` entry: a host file or directory copied onto the VM's work disk at create time. */
export interface FileSyncEntry {
  /** Absolute host path (`~` already expanded). */
  host: string;
  /**
   * Guest path normalised to the absolute form `/root/…` ("~/.aws" becomes
   * "/root/.aws"; never /root itself, never escaping it). Use
   * `guestPathUnderRoot()` for the path relative to the work disk's top.
   */
  guest: string;
  /** Octal permission string such as "0755"; when absent files get 0600. */
  mode?: string;
}

/** `[vm_defaults]`: sizing for new VMs when flags are not given. Absent keys are decided by banger. */
export interface VmDefaultsConfig {
  vcpu?: number;
  memoryMib?: number;
  /** Size string as written (e.g. "16G"); use `parseSize()` for bytes. */
  diskSize?: string;
}

/**
 * The validated contents of `config.toml` with defaults applied. Optional
 * fields stay undefined when the user did not set them, so callers can tell
 * "not configured" from a default (e.g. look `firecracker` up on PATH).
 */
export interface BangerConfig {
  /** Image used when `--image` is omitted. Default `debian-bookworm`. */
  defaultImageName: string;
  /** Kernel used when `--kernel` is omitted. Default `debian-cloud`. */
  defaultKernelName: string;
  /** Host SSH private key; unset means the managed `<sshDir>/id_ed25519`. */
  sshKeyPath?: string;
  /** Absolute path of the firecracker binary; unset means PATH lookup. */
  firecrackerBin?: string;
  /** Absolute path of qemu-system-x86_64; unset means PATH lookup. */
  qemuBin?: string;
  /** Default `auto`. */
  hypervisor: HypervisorPreference;
  /** Host bridge the VMs' taps join. Default `banger0`. */
  bridgeName: string;
  /** IPv4 CIDR of the bridge network; the first host address is the gateway. Default `172.16.0.0/24`. */
  bridgeSubnet: string;
  /** Image catalog URL override; unset means the embedded catalog. */
  catalogUrl?: string;
  /** Kernel catalog URL override; unset means the embedded catalog. */
  kernelCatalogUrl?: string;
  /** Debian mirror kernel and image builds download from; unset means Debian's official mirror. */
  debianMirror?: string;
  /** Keyring the mirror's InRelease must be signed with; unset means Debian's archive keyring. */
  debianKeyring?: string;
  /** Port of the daemon's `.vm` DNS server; unset means the DNS layer picks. */
  dnsPort?: number;
  /** DNS servers the bridge forwarder asks for guests' non-`.vm` names; unset means the host's resolv.conf. */
  dnsUpstreams?: string[];
  /**
   * How long a creation left interrupted (`creating`, no graph running) is kept for a resuming
   * `vm run`/`vm create` before the daemon deletes it and releases its lease. Unset → 1 h (the VM layer's default).
   */
  interruptedCreateExpiryMs?: number;
  /**
   * New QEMU VMs start from a warm template of their inputs (booted once, saved, restored as a copy)
   * instead of a cold boot. Default true; `vm run --cold` / `vm create --cold` bypass it per VM.
   */
  warmStart?: boolean;
  /**
   * Keep a spare copy of each grown rootfs base in use, made after a VM's graph at the lowest
   * priority, so the next cold VM of that image and size skips the copy. Default true.
   */
  diskSpares?: boolean;
  vmDefaults: VmDefaultsConfig;
  /** Default: no entries. */
  fileSync: FileSyncEntry[];
  /** The file these values came from, or `(defaults)` when it does not exist. */
  source: string;
}

/** Where an effective value came from, for `spec:` lines and `banger doctor`. */
export type ProvenanceSource = 'config' | 'host' | 'builtin';

/**
 * A value with its provenance. `detail` is a short human explanation:
 * `config` → "config" or the key, `host` → the heuristic ("cpus/4"),
 * `builtin` → why the floor applied.
 */
export interface Provenanced<T> {
  value: T;
  source: ProvenanceSource;
  detail: string;
}

/** The effective sizing for a new VM when no flag overrides it. */
export interface ResolvedVmDefaults {
  vcpu: Provenanced<number>;
  memoryMib: Provenanced<number>;
  diskBytes: Provenanced<number>;
}

/** Host facts the vm_defaults heuristics use. Injected so tests need no real host. */
export interface HostFacts {
  /** CPUs this process may use. */
  cpus: number;
  /** Total RAM in MiB. */
  memoryMib: number;
  /** Size in bytes of the file system that holds the state dir (VM disks live there); unknown when absent. */
  stateFsBytes?: number;
}

/** Where a VM's effective sizing came from: a default's source, or a command-line flag. */
export type SpecSource = ProvenanceSource | 'flag';

/** The sizing a VM is created with, each value with its provenance; `spec:` lines print it. */
export interface VmSpec {
  vcpu: { value: number; source: SpecSource; detail: string };
  memoryMib: { value: number; source: SpecSource; detail: string };
  diskBytes: { value: number; source: SpecSource; detail: string };
}
