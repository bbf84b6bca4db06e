import type { VmHandle, VmStatus } from '@banger/hypervisor';
import type { Database } from '@banger/store';
import type { StepLogger } from '@banger/taskgraph';
import { driverFor } from './driver-for.js';
import { VmRepository, type VmHypervisor } from './vm-record.js';

/**
 * Notices hypervisor processes that end — a guest `poweroff`, a crash, a
 * `kill -9` — and records it: the VM becomes `stopped` with the reason
 * ("qemu exited with status 1", "qemu killed by SIGKILL"). A stop banger
 * asked for registers its own reason first with `expectExit`, so the record
 * says "stopped by banger vm stop" rather than the signal it used.
 */
export class VmWatcher {
  private readonly watches = new Map<string, { handle: VmHandle; unsubscribe: () => void }>();
  private readonly expected = new Map<string, string>();

  constructor(private readonly db: Database, private readonly log: StepLogger) {}

  /** Watches the VM `vmId`'s process (replacing any earlier watch of that VM). Idempotent per handle. */
  watch(vmId: string, name: string, hypervisor: VmHypervisor, handle: VmHandle): void {
    const current = this.watches.get(vmId);
    if (current && current.handle.pid === handle.pid && current.handle.startTime === handle.startTime) return;
    current?.unsubscribe();
    const unsubscribe = driverFor(hypervisor).watch(handle, (status) => this.exited(vmId, name, hypervisor, handle, status));
    this.watches.set(vmId, { handle, unsubscribe });
  }

  /** The next exit of this VM's process is banger's doing: record `reason` instead of the raw exit. */
  expectExit(vmId: string, reason: string): void {
    this.expected.set(vmId, reason);
  }

  /** Stops watching a VM (it is being deleted). */
  forget(vmId: string): void {
    this.watches.get(vmId)?.unsubscribe();
    this.watches.delete(vmId);
    this.expected.delete(vmId);
  }

  /** Stops every watch (daemon shutdown: the VMs keep running and the next daemon adopts them). */
  close(): void {
    for (const { unsubscribe } of this.watches.values()) unsubscribe();
    this.watches.clear();
  }

  private exited(vmId: string, name: string, hypervisor: VmHypervisor, handle: VmHandle, status: VmStatus): void {
    this.watches.delete(vmId);
    const repo = new VmRepository(this.db);
    const vm = repo.findById(vmId);
    // A newer boot (or a deleted VM) is not this process's business.
    if (!vm || vm.pid !== handle.pid || vm.pidStartTime !== handle.startTime) return;
    const reason = this.expected.get(vmId) ?? `${hypervisor.kind} ${status.reason ?? 'exited'}`;
    this.expected.delete(vmId);
    // A VM still being created stays `creating` (the next vm create resumes it); the reason says what happened.
    // One handed over for removal (`vm run --rm`) stays `deleting`: hidden, and finished at the next start if need be.
    if (vm.state === 'deleting') {
      repo.update(vmId, { pid: null, pidStartTime: null });
      return;
    }
    repo.update(vmId, { state: vm.state === 'creating' ? 'creating' : 'stopped', stateReason: reason, pid: null, pidStartTime: null });
    this.log.info({ vm: name, pid: handle.pid, reason }, 'hypervisor process ended');
  }
}
