import { closeSync, existsSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, HostCommandError, InternalError, UserError } from '@banger/errors';
import { AGENT_VSOCK_PORT, savedStateFiles, type AgentChannelCapable, type AgentConnectOptions, type SnapshotCapable, type SuspendCapable, type DriverCallOptions, type HypervisorDriver, type StartOptions, type StopOptions, type VmHandle, type VmSpec, type VmStatus } from './driver.js';
import { connectFirecrackerVsock } from './firecracker-vsock.js';
import { logTail, removeQuietly } from './cleanup-files.js';
import { FirecrackerApiError, firecrackerRequest, type FirecrackerCall } from './firecracker-api.js';
import { buildFirecrackerArgs, buildFirecrackerCalls, buildFirecrackerRestoreCalls, buildSnapshotCreateCall, SNAPSHOT_MIN_FIRECRACKER_VERSION } from './firecracker-calls.js';
import { processAlive, settledStatus, spawnDetached } from './process.js';
import { MIN_FIRECRACKER_VERSION, versionAtLeast } from './select.js';
import { startVmProcess, stopVmProcess, VmProcessDriver } from './vm-process.js';
import { vmFiles } from './vm-spec.js';

/** How long writing or loading a snapshot may take: generous for a loaded host (≈ 1 min per GiB, at least 2 min), as for QEMU's state files. */
const snapshotTimeoutMs = (memoryMib: number): number => Math.max(120_000, Math.ceil(memoryMib / 1024) * 60_000);

export interface FirecrackerDriverOptions {
  /** firecracker path (HypervisorChoice.binary). */
  binary: string;
  /** How long to wait for the API socket after spawning. */
  socketTimeoutMs?: number;
  /** Observes every API call (daemon debug log, tests). */
  onCall?: (call: FirecrackerCall) => void;
}

/**
 * Runs VMs with Firecracker: one process per VM, configured over its API
 * socket (<vmDir>/firecracker.sock) with plain HTTP/1.1, then InstanceStart.
 * Guest console (the process's stdout) goes to spec.consoleLogPath, the
 * VMM's own log to <vmDir>/firecracker.log.
 */
export class FirecrackerDriver extends VmProcessDriver implements HypervisorDriver, AgentChannelCapable, SnapshotCapable, SuspendCapable {
  readonly kind = 'firecracker' as const;

  constructor(private readonly options: FirecrackerDriverOptions) {
    super();
  }

  async start(spec: VmSpec, options: StartOptions = {}): Promise<VmHandle> {
    const { existing, signal, restoreFrom } = options;
    const files = vmFiles(spec.vmDir);
    return startVmProcess(spec, existing, {
      // Firecracker binds these itself (the vsock UDS also on /snapshot/load) and fails on any leftover file.
      leftovers: [files.firecrackerSocket, spec.agentSocketPath],
      spawn: async () => {
        // PUT /logger opens the file without creating it.
        closeSync(openSync(files.firecrackerLog, 'a', 0o600));
        // stdout is the guest console. It goes to a regular file: Firecracker sets
        // its stdout O_NONBLOCK, which is harmless on a file but would lose console
        // bytes on a slow pipe (and flip a shared terminal to non-blocking).
        const proc = await spawnDetached(this.options.binary, buildFirecrackerArgs(spec), {
          stdoutPath: spec.consoleLogPath,
          stderrPath: files.hypervisorLog,
          cwd: spec.vmDir,
        });
        return {
          kind: 'firecracker',
          pid: proc.pid,
          startTime: proc.startTime,
          vmDir: spec.vmDir,
          ...(spec.agentSocketPath ? { agentSocketPath: spec.agentSocketPath } : {}),
        };
      },
      // A half-configured Firecracker cannot be reused: startVmProcess kills it on any throw here.
      boot: async (handle) => {
        await this.waitForSocket(handle, files.firecrackerSocket, files.hypervisorLog);
        const version = await this.version(files.firecrackerSocket);
        if (!versionAtLeast(version || '0', MIN_FIRECRACKER_VERSION)) {
          throw new HostCommandError('firecracker', `${this.options.binary} is Firecracker ${version || '(unknown version)'}, banger needs ≥ ${MIN_FIRECRACKER_VERSION}`, {
            hint: 'install a newer Firecracker or set hypervisor = qemu',
          });
        }
        if (restoreFrom) return this.restore(handle, spec, restoreFrom, version, signal);
        for (const call of buildFirecrackerCalls(spec)) {
          if (signal?.aborted) throw new CancelledError('starting VM: cancelled');
          await this.call(files.firecrackerSocket, call);
        }
      },
    });
  }

  /**
   * Loads a saved state into the fresh process `start` spawned. Firecracker
   * answers a refused load with a 400 and then exits (the process is unusable),
   * or dies before answering; either way this throws one line and `start` kills
   * what is left, so the caller can boot cold.
   */
  private async restore(handle: VmHandle, spec: VmSpec, stateFile: string, version: string, signal?: AbortSignal): Promise<void> {
    const files = vmFiles(spec.vmDir);
    if (!versionAtLeast(version || '0', SNAPSHOT_MIN_FIRECRACKER_VERSION)) {
      throw new UserError('VM_SUSPEND_UNSUPPORTED', `${this.options.binary} is Firecracker ${version || '(unknown version)'}, restoring a saved VM needs ≥ ${SNAPSHOT_MIN_FIRECRACKER_VERSION}`, {
        hint: 'install a newer Firecracker; the VM boots cold meanwhile',
      });
    }
    for (const path of savedStateFiles(stateFile)) {
      if (!existsSync(path)) throw new UserError('VM_SAVED_STATE_INCOMPLETE', `the saved state ${path} is missing`, { hint: 'the VM boots cold instead' });
    }
    for (const call of buildFirecrackerRestoreCalls(spec, stateFile)) {
      if (signal?.aborted) throw new CancelledError('restoring VM: cancelled');
      try {
        await this.call(files.firecrackerSocket, call, snapshotTimeoutMs(spec.memoryMib));
      } catch (error) {
        if (error instanceof FirecrackerApiError || processAlive(handle.pid, handle.startTime)) throw error;
        // The process died under the request: its log says why.
        const exit = await settledStatus(handle.pid, handle.startTime);
        const why = (await logTail(files.firecrackerLog, 1)) || (await logTail(files.hypervisorLog, 1)) || exit.reason;
        throw new HostCommandError('firecracker', `firecracker ${exit.reason ?? 'exited'} during ${call.method} ${call.path}: ${why}`, { hint: `see ${files.firecrackerLog}`, cause: error });
      }
    }
  }

  private async version(socket: string): Promise<string> {
    const answer = (await this.call(socket, { method: 'GET', path: '/version' })) as { firecracker_version?: string } | undefined;
    return answer?.firecracker_version ?? '';
  }

  private async call(socket: string, call: FirecrackerCall, timeoutMs?: number): Promise<unknown> {
    this.options.onCall?.(call);
    return firecrackerRequest(socket, call, timeoutMs);
  }

  /** The socket appears 6–60 ms after exec; poll connect() rather than the file. */
  private async waitForSocket(handle: VmHandle, socketPath: string, logPath: string): Promise<void> {
    const timeoutMs = this.options.socketTimeoutMs ?? 5_000;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!processAlive(handle.pid, handle.startTime)) {
        const exit = await settledStatus(handle.pid, handle.startTime);
        const why = (await logTail(logPath, 3)) || exit.reason;
        throw new HostCommandError('firecracker', `firecracker exited before opening its API socket ${socketPath}: ${why}`, { hint: `see ${logPath}` });
      }
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(socketPath);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      await sleep(10);
    }
    throw new HostCommandError('firecracker', `firecracker did not open its API socket ${socketPath} within ${timeoutMs} ms`, { hint: `see ${logPath}` });
  }

  /**
   * SendCtrlAltDel makes a systemd guest reboot, which with `reboot=k` ends
   * the process; SIGKILL after graceMs (Firecracker has no SIGTERM handler,
   * so a signal is never graceful anyway).
   */
  async stop(handle: VmHandle, options: StopOptions = {}): Promise<VmStatus> {
    const files = vmFiles(handle.vmDir);
    return stopVmProcess(handle, {
      requestPowerOff: () =>
        firecrackerRequest(files.firecrackerSocket, { method: 'PUT', path: '/actions', body: { action_type: 'SendCtrlAltDel' } }, 3_000).then(
          () => true,
          () => false, // API gone or VM not started: kill.
        ),
      graceMs: options.graceMs ?? 10_000,
      sigtermFirst: false,
      leftovers: [files.firecrackerSocket, handle.agentSocketPath],
    });
  }

  /** A vsock connection to the guest agent on port 1024, through the VM's vsock UDS (`CONNECT 1024`). */
  async connectAgent(handle: VmHandle, spec: Pick<VmSpec, 'agentSocketPath'>, options: AgentConnectOptions = {}): Promise<Socket> {
    const uds = spec.agentSocketPath ?? handle.agentSocketPath;
    if (!uds) throw new InternalError('AGENT_NOT_CONFIGURED', `VM in ${handle.vmDir} was started without a vsock device`);
    return connectFirecrackerVsock(uds, AGENT_VSOCK_PORT, options);
  }

  /** Pauses the vCPUs (`PATCH /vm Paused`); idempotent in Firecracker. */
  async pause(handle: VmHandle): Promise<void> {
    await this.runtimeCall(handle, { method: 'PATCH', path: '/vm', body: { state: 'Paused' } });
  }

  /** Resumes the vCPUs (`PATCH /vm Resumed`). */
  async resume(handle: VmHandle): Promise<void> {
    await this.runtimeCall(handle, { method: 'PATCH', path: '/vm', body: { state: 'Resumed' } });
  }

  /**
   * Writes a full snapshot (VM state + guest memory) of a running VM: pauses
   * it, creates the snapshot, and resumes it even when creation failed, so a
   * failed snapshot never leaves the VM frozen.
   */
  async createSnapshot(handle: VmHandle, paths: { stateFile: string; memFile: string }): Promise<void> {
    await this.pause(handle);
    try {
      await this.runtimeCall(handle, {
        method: 'PUT',
        path: '/snapshot/create',
        body: { snapshot_type: 'Full', snapshot_path: paths.stateFile, mem_file_path: paths.memFile },
      }, 120_000);
    } finally {
      await this.resume(handle);
    }
  }

  /**
   * `vm suspend`: pauses the vCPUs, writes a full snapshot — the state to
   * `stateFile`, the guest memory beside it (savedStateFiles) — and kills the
   * paused process without waking the guest (no SendCtrlAltDel: the guest is
   * frozen in the files, and its disks must stay as the snapshot saw them).
   * A failed snapshot resumes the VM and ends nothing.
   */
  async suspend(handle: VmHandle, stateFile: string, options: DriverCallOptions = {}): Promise<void> {
    const files = vmFiles(handle.vmDir);
    const version = String(((await this.runtimeCall(handle, { method: 'GET', path: '/version' })) as { firecracker_version?: string } | undefined)?.firecracker_version ?? '');
    if (!versionAtLeast(version || '0', SNAPSHOT_MIN_FIRECRACKER_VERSION)) {
      // Refused before pausing: a state this Firecracker could not give back to the VM is not written.
      throw new UserError('VM_SUSPEND_UNSUPPORTED', `${this.options.binary} is Firecracker ${version || '(unknown version)'}, suspending a VM needs ≥ ${SNAPSHOT_MIN_FIRECRACKER_VERSION}`, {
        hint: 'install a newer Firecracker, or stop the VM instead',
      });
    }
    const machine = (await this.runtimeCall(handle, { method: 'GET', path: '/machine-config' })) as { mem_size_mib?: number } | undefined;
    if (options.signal?.aborted) throw new CancelledError('suspending VM: cancelled');
    // Firecracker truncates existing files; a restored VM may still map an old memory file
    // under that name, so unlink instead: the old inode lives on for whoever maps it.
    removeQuietly(...savedStateFiles(stateFile));
    await this.pause(handle);
    try {
      await this.runtimeCall(handle, buildSnapshotCreateCall(stateFile), snapshotTimeoutMs(machine?.mem_size_mib ?? 4096));
    } catch (error) {
      await this.resume(handle).catch(() => undefined);
      throw error;
    }
    await stopVmProcess(handle, {
      requestPowerOff: async () => false,
      graceMs: 0,
      sigtermFirst: false,
      leftovers: [files.firecrackerSocket, handle.agentSocketPath],
    });
  }

  private async runtimeCall(handle: VmHandle, call: FirecrackerCall, timeoutMs?: number): Promise<unknown> {
    if (!processAlive(handle.pid, handle.startTime)) {
      throw new InternalError('VM_NOT_RUNNING', `firecracker API ${call.method} ${call.path}: the VM in ${handle.vmDir} is not running`);
    }
    this.options.onCall?.(call);
    return firecrackerRequest(vmFiles(handle.vmDir).firecrackerSocket, call, timeoutMs);
  }
}
