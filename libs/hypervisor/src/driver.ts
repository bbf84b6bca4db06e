/**
 * The hypervisor boundary. A driver turns a `VmSpec` into a running
 * hypervisor process and back; it knows nothing about images, leases or the
 * database. Modelled on lima's `pkg/driver`: one small lifecycle interface,
 * optional capabilities as separate interfaces.
 */

/** One block device, attached in array order: the first is /dev/vda, then vdb, vdc… */
export interface VmDisk {
  /** Firecracker drive id / QEMU drive id: `[A-Za-z0-9_]+`. */
  id: string;
  /** Raw ext4 image on the host. */
  path: string;
  readOnly: boolean;
}

/** The VM's network interface: an existing tap (see @banger/network ensureTap) and the guest MAC. */
export interface VmNet {
  tap: string;
  mac: string;
}

/** Everything a driver needs to boot one VM. Drivers receive nothing else. */
export interface VmSpec {
  /** Stable VM id, `[A-Za-z0-9_]+` (safe as a Firecracker resource id and in file names). */
  id: string;
  /** The user-facing VM name (for logs and process titles). */
  name: string;
  vcpu: number;
  memoryMib: number;
  /** The kernel bundle's uncompressed ELF vmlinux and its initrd. */
  kernel: { vmlinux: string; initrd: string };
  /**
   * The guest part of the kernel command line (console, root, ip=, hostname, banger.modules).
   * Drivers append only what their machine needs (e.g. QEMU TCG's `tsc_early_khz=`).
   */
  bootArgs: string;
  /** disks[0] is the root disk (/dev/vda). */
  disks: VmDisk[];
  net?: VmNet;
  /** Where the guest serial console (ttyS0) is appended. Survives restarts: opened in append mode. */
  consoleLogPath: string;
  /**
   * Host end of the host↔guest agent channel: a Unix socket the driver creates
   * (QEMU: virtio-serial port `banger.agent`; Firecracker: the vsock `uds_path`).
   */
  agentSocketPath?: string;
  /** The VM's private directory: pid file, API/QMP sockets and the hypervisor's own log live here. */
  vmDir: string;
}

/**
 * Identifies a running hypervisor process. Persist it (vms.pid, vms.pid_start_time)
 * so a restarted daemon can re-adopt the VM: the start time makes sure a reused
 * pid is never mistaken for the VM.
 */
export interface VmHandle {
  kind: 'firecracker' | 'qemu';
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since host boot), as a string. */
  startTime: string;
  vmDir: string;
  /** The agent socket the driver created (removed on stop: Firecracker never deletes its vsock UDS). */
  agentSocketPath?: string;
}

/** What `status()` found. */
export interface VmStatus {
  state: 'running' | 'stopped';
  /**
   * Why it is stopped, for `vm show`: "exited with status 0", "killed by SIGKILL",
   * or "process gone" when the exit was not observed (e.g. the daemon restarted).
   */
  reason?: string;
}

/** Passed to long driver calls so the daemon can cancel and report progress. */
export interface DriverCallOptions {
  signal?: AbortSignal;
}

export interface StopOptions extends DriverCallOptions {
  /** How long to wait for the guest to shut down before killing the process. */
  graceMs?: number;
}

/**
 * The lifecycle every driver implements.
 *
 * Process model (both drivers): the hypervisor runs detached in its own
 * session with stdin from /dev/null and stdout/stderr to files, never pipes
 * to the daemon, so VMs outlive a daemon restart or crash.
 */
export interface HypervisorDriver {
  readonly kind: 'firecracker' | 'qemu';

  /**
   * Boots the VM and resolves once the hypervisor has accepted the whole
   * configuration and the vCPUs run (not when the guest is ready: wait for
   * ssh or the agent for that). Idempotent: given the handle of a VM that is
   * still running, returns that handle without starting another process.
   * On any failure nothing is left behind: the process is killed and its
   * sockets are removed. The guest console is appended to spec.consoleLogPath.
   */
  start(spec: VmSpec, options?: StartOptions): Promise<VmHandle>;

  /**
   * Stops the VM: asks the guest to shut down (Firecracker: SendCtrlAltDel,
   * QEMU: system_powerdown), waits up to graceMs, then SIGKILLs. Removes the
   * API/QMP sockets. Idempotent: stopping a stopped VM resolves at once.
   */
  stop(handle: VmHandle, options?: StopOptions): Promise<VmStatus>;

  /**
   * Whether the process behind the handle still runs. A pid that now belongs
   * to another process (different start time) or a zombie counts as stopped.
   * Cheap: reads /proc, never talks to the hypervisor.
   */
  status(handle: VmHandle): Promise<VmStatus>;

  /**
   * Calls `onExit` once when the process ends (exit status or signal when
   * this daemon spawned it, else "process gone" found by polling). Returns an
   * unsubscribe function.
   */
  watch(handle: VmHandle, onExit: (status: VmStatus) => void): () => void;
}

/** What `start` takes besides the spec. */
export interface StartOptions extends DriverCallOptions {
  /** The handle of the VM's last process: returned as it is when that process still runs. */
  existing?: VmHandle;
  /**
   * Start from a state file written by `SuspendCapable.suspend` instead of
   * booting: the guest continues where it was frozen. Only drivers that are
   * SuspendCapable accept it; the others refuse it.
   *
   * What may differ from the spec the state was saved with (both drivers honour it):
   * - `net.tap`: the restored VM is attached to the spec's tap (QEMU: the netdev
   *   comes from the command line; Firecracker: `network_overrides`). The guest
   *   is not told: its MAC and addresses are the saved ones until something in
   *   the guest (the agent) changes them.
   * - `agentSocketPath`, `consoleLogPath` (Firecracker: `vsock_override`).
   * - The disks inside `vmDir`: the restored VM gets the files of the same
   *   names in the spec's `vmDir` (QEMU: from the command line; Firecracker:
   *   it was given them relative to its directory, drivePathOnHost), so a
   *   state saved in one directory restores in another holding copies.
   * Everything else — vcpu, memory, kernel, boot args, `net.mac`, and the disks
   * outside `vmDir` with their paths — must be as it was; the caller checks
   * (the VM layer's `whyNotResumable` / `whyNotRestorable`). A state the
   * hypervisor refuses makes `start` throw with nothing left running, so the
   * caller can boot cold instead.
   */
  restoreFrom?: string;
}

/**
 * The files a saved state at `stateFile` consists of: the state file itself,
 * then companions some drivers write beside it (Firecracker: the guest memory,
 * `<stateFile>.mem`, which a restored VM maps and reads lazily). Whoever
 * moves, sizes or removes a saved state handles all of them; the state file is
 * the last one written, so its presence means the whole set is there.
 */
export const savedStateFiles = (stateFile: string): string[] => [stateFile, savedMemoryFile(stateFile)];
/** Firecracker's guest-memory companion of a saved state. */
export const savedMemoryFile = (stateFile: string): string => `${stateFile}.mem`;

/**
 * Optional: the whole VM (RAM and devices) to a saved state and back, for
 * `vm suspend` / `vm resume`. QEMU: migration to one file; Firecracker:
 * `/snapshot/create` (state + memory file, see savedStateFiles) and `/snapshot/load`.
 */
export interface SuspendCapable {
  /**
   * Freezes the VM, writes its state to `stateFile` (and its companions,
   * savedStateFiles) and ends the hypervisor process (no guest shutdown). On
   * failure the VM keeps running and nothing is ended; the caller removes
   * partial files.
   */
  suspend(handle: VmHandle, stateFile: string, options?: DriverCallOptions): Promise<void>;
}

/** Whether a driver can suspend to a file (and start with `restoreFrom`). */
export const isSuspendCapable = (driver: HypervisorDriver): driver is HypervisorDriver & SuspendCapable => typeof (driver as Partial<SuspendCapable>).suspend === 'function';

/** Optional: pause/resume and full memory snapshots of a VM that keeps running. Implemented by the Firecracker driver; QEMU does not offer it yet. */
export interface SnapshotCapable {
  pause(handle: VmHandle): Promise<void>;
  resume(handle: VmHandle): Promise<void>;
  createSnapshot(handle: VmHandle, paths: { stateFile: string; memFile: string }): Promise<void>;
}

/** One attempt to open the agent channel. */
export interface AgentConnectOptions extends DriverCallOptions {
  /** How long this attempt (connect, and Firecracker's CONNECT handshake) may take. */
  timeoutMs?: number;
}

/** Optional: the host↔guest agent channel, as a connected byte stream. */
export interface AgentChannelCapable {
  /**
   * Connects to the guest agent (QEMU: the virtio-serial Unix socket;
   * Firecracker: the vsock UDS with `CONNECT <port>`). Rejects when nothing is listening.
   */
  connectAgent(handle: VmHandle, spec: Pick<VmSpec, 'agentSocketPath'>, options?: AgentConnectOptions): Promise<import('node:net').Socket>;
}

export const hasSnapshots = (d: HypervisorDriver): d is HypervisorDriver & SnapshotCapable =>
  typeof (d as Partial<SnapshotCapable>).createSnapshot === 'function';
export const hasAgentChannel = (d: HypervisorDriver): d is HypervisorDriver & AgentChannelCapable =>
  typeof (d as Partial<AgentChannelCapable>).connectAgent === 'function';

/** Vsock port the guest agent listens on under Firecracker. */
export const AGENT_VSOCK_PORT = 1024;
/** virtio-serial port name of the guest agent under QEMU (/dev/virtio-ports/banger.agent). */
export const AGENT_SERIAL_NAME = 'banger.agent';
