import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, HostCommandError, InternalError } from '@banger/errors';
import { hostTscKhz } from '@banger/host';
import type { AgentChannelCapable, AgentConnectOptions, DriverCallOptions, HypervisorDriver, StartOptions, StopOptions, SuspendCapable, VmHandle, VmSpec, VmStatus } from './driver.js';
import { connectUnix } from './agent-connect.js';
import { logTail } from './cleanup-files.js';
import { buildQemuArgs } from './qemu-args.js';
import { loadStateFromFile, saveStateToFile } from './qemu-state-file.js';
import { qmpDelivered, withQmp } from './qmp.js';
import { processAlive, settledStatus, spawnDetached } from './process.js';
import { startVmProcess, stopVmProcess, VmProcessDriver } from './vm-process.js';
import { vmFiles } from './vm-spec.js';

export interface QemuDriverOptions {
  /** qemu-system-x86_64 path (HypervisorChoice.binary). */
  binary: string;
  accel: 'kvm' | 'tcg';
  /** Defaults to hostTscKhz(); only used under TCG. */
  tscKhz?: number;
  /** How long start() waits for QMP to report the VM running. */
  startTimeoutMs?: number;
}

/**
 * Runs VMs with `qemu-system-x86_64 -M microvm`: the same kernel bundle and
 * raw ext4 disks as Firecracker, virtio-mmio devices, the guest console in a
 * file, QMP on <vmDir>/qmp.sock for status and shutdown.
 */
export class QemuDriver extends VmProcessDriver implements HypervisorDriver, AgentChannelCapable, SuspendCapable {
  readonly kind = 'qemu' as const;

  constructor(private readonly options: QemuDriverOptions) {
    super();
  }

  /** The argv start() runs, without the binary (for tests, `vm show --debug`). */
  args(spec: VmSpec): string[] {
    return buildQemuArgs(spec, { accel: this.options.accel, tscKhz: this.options.tscKhz ?? hostTscKhz() });
  }

  async start(spec: VmSpec, options: StartOptions = {}): Promise<VmHandle> {
    const { existing, signal, restoreFrom } = options;
    const files = vmFiles(spec.vmDir);
    return startVmProcess(spec, existing, {
      // QEMU refuses to bind over a leftover socket from a crashed run.
      leftovers: [files.qmpSocket, files.qemuPidFile, spec.agentSocketPath],
      spawn: async () => {
        const args = [...this.args(spec), ...(restoreFrom ? ['-incoming', 'defer'] : [])];
        const proc = await spawnDetached(this.options.binary, args, {
          stdoutPath: files.hypervisorLog,
          stderrPath: files.hypervisorLog,
          cwd: spec.vmDir,
        });
        return { kind: 'qemu', pid: proc.pid, startTime: proc.startTime, vmDir: spec.vmDir };
      },
      boot: async (handle) => {
        if (restoreFrom) await loadStateFromFile(files.qmpSocket, restoreFrom, { memoryMib: spec.memoryMib, ...(signal ? { signal } : {}) });
        await this.waitRunning(handle, files.qmpSocket, files.hypervisorLog, signal);
      },
    });
  }

  /** Saves the VM's whole state to `stateFile`, then ends QEMU (its guest is not shut down: it is frozen in the file). */
  async suspend(handle: VmHandle, stateFile: string, options: DriverCallOptions = {}): Promise<void> {
    const files = vmFiles(handle.vmDir);
    await saveStateToFile(files.qmpSocket, stateFile, options.signal ? { signal: options.signal } : {});
    await stopVmProcess(handle, {
      requestPowerOff: () => qmpDelivered(files.qmpSocket, 'quit'),
      graceMs: 10_000,
      sigtermFirst: true,
      leftovers: [files.qmpSocket, files.qemuPidFile],
    });
  }

  /** Waits until QMP answers `query-status` with running, or the process dies (its log tail becomes the error). */
  private async waitRunning(handle: VmHandle, qmpPath: string, logPath: string, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 30_000);
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (signal?.aborted) throw new CancelledError(`starting VM: cancelled`);
      if (!processAlive(handle.pid, handle.startTime)) {
        const exit = await settledStatus(handle.pid, handle.startTime);
        const why = (await logTail(logPath, 3)) || exit.reason;
        throw new HostCommandError('qemu-system-x86_64', `qemu-system-x86_64 exited while starting: ${why}`, {
          hint: `see ${logPath}`,
        });
      }
      try {
        const status = (await withQmp(qmpPath, 2_000, (qmp) => qmp.execute('query-status'))) as { status?: string; running?: boolean };
        if (status.running) return;
        lastError = new Error(`VM status is ${status.status}`);
      } catch (error) {
        lastError = error;
      }
      await sleep(100);
    }
    throw new HostCommandError('qemu-system-x86_64', `qemu-system-x86_64 did not report running within ${this.options.startTimeoutMs ?? 30_000} ms: ${String((lastError as Error)?.message ?? lastError)}`, {
      hint: `see ${logPath}`,
    });
  }

  async stop(handle: VmHandle, options: StopOptions = {}): Promise<VmStatus> {
    const files = vmFiles(handle.vmDir);
    return stopVmProcess(handle, {
      requestPowerOff: () => qmpDelivered(files.qmpSocket, 'system_powerdown'),
      // system_powerdown needs logind/acpid in the guest (the base Debian image
      // has neither), so the default grace period is short.
      graceMs: options.graceMs ?? 5_000,
      // SIGTERM lets QEMU flush the disks; SIGKILL if it does not react.
      sigtermFirst: true,
      leftovers: [files.qmpSocket, files.qemuPidFile],
    });
  }

  /** The virtio-serial port's host end: QEMU listens on agentSocketPath; the bytes reach /dev/virtio-ports/banger.agent. */
  async connectAgent(handle: VmHandle, spec: Pick<VmSpec, 'agentSocketPath'>, options: AgentConnectOptions = {}): Promise<Socket> {
    if (!spec.agentSocketPath) throw new InternalError('AGENT_NOT_CONFIGURED', `VM in ${handle.vmDir} was started without an agent channel`);
    return connectUnix(spec.agentSocketPath, options);
  }
}

