import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { CancelledError, InternalError } from '@banger/errors';
import { processAlive, processStatus } from '@banger/hypervisor';
import type { Step } from '@banger/taskgraph';
import type { AgentStatus } from '../agent/agent-links.js';
import { reseedGuestRng } from '../agent/reseed-guest-rng.js';
import { vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { RuntimeDiskOutputs } from './runtime-disk.js';

/**
 * How long `vm.wait-agent` waits once ssh answers. The unit starts at
 * sysinit, long before sshd (node's cold start under TCG is ~1.5 s, sshd
 * answers ~20 s into a boot), so a healthy agent is up by then; the wait only
 * bounds what a guest without the agent costs.
 */
export const AGENT_WAIT_TCG_MS = 60_000;
export const AGENT_WAIT_KVM_MS = 20_000;

/** Outputs of `vm.wait-agent`: the boot it was waited for and what was found. */
export interface WaitAgentOutputs {
  /** `<pid>:<start time>` of the hypervisor process. */
  boot: string;
  agent: AgentStatus;
}

/**
 * `vm.wait-agent`: the guest agent said hello (its version and pid are
 * recorded with the daemon's link and shown by `vm show` / `vm list --json`).
 * An agent that does not answer is a warning, not a failure: the VM works
 * over ssh as before, the reason is recorded, and this boot is not waited for
 * again (the next `vm exec` tries to connect anew). The channel is the
 * hypervisor's (QEMU: virtio-serial socket; Firecracker: vsock port 1024
 * through the VM's vsock UDS), chosen by the driver of the VM's kind.
 * The timeout is a parameter of the run, not an input.
 */
export function waitAgentStep(env: VmEnv, vm: { id: string; name: string }, options: { timeoutMs?: number } = {}): Step<WaitAgentOutputs> {
  const bootOf = () => {
    const record = vmRepository(env).findById(vm.id);
    return { record, boot: `${record?.pid}:${record?.pidStartTime}` };
  };
  return {
    id: 'vm.wait-agent',
    title: 'Wait for the guest agent',
    needs: ['vm.runtime-disk', 'vm.wait-ssh'],
    inputs: () => ({}),
    isSatisfied: (ctx) => {
      const { record, boot } = bootOf();
      const previous = ctx.previousOutputs as WaitAgentOutputs | undefined;
      if (existsSync(vmDirOf(env, vm.name).resyncPending)) return { satisfied: false, reason: 'resumed: the guest clock and RNG are not resynced yet' };
      if (record && env.agent?.links.status(record)?.state === 'up') return true;
      // Waited for during this boot already (and found down): do not wait again; `vm exec` connects anew.
      return previous?.boot === boot || { satisfied: false, reason: 'not waited for since this boot' };
    },
    run: async (ctx, report) => {
      const { record, boot } = bootOf();
      const links = env.agent?.links;
      const down = (reason: string): WaitAgentOutputs => {
        if (record && links) links.markDown(record, reason);
        report.line(`warning: ${reason}; the VM works over ssh, banger vm exec does not`);
        return { boot, agent: { state: 'down', reason, since: new Date().toISOString() } };
      };
      if (!record || !links) return down('this daemon does not connect to guest agents');
      const disk = ctx.need<RuntimeDiskOutputs>('vm.runtime-disk');
      if (!disk.path) return down(disk.missing ?? 'no agent runtime disk');
      const timeoutMs = options.timeoutMs ?? (record.spec.hypervisor.accel === 'tcg' ? AGENT_WAIT_TCG_MS : AGENT_WAIT_KVM_MS);
      // A hypervisor that dies meanwhile fails the step at once (as in vm.wait-ssh), rather than
      // waiting out the timeout and calling a dead VM one "without an agent" (found by the fault suite).
      const { pid, pidStartTime: startTime } = record;
      const died = new AbortController();
      const isDead = (): boolean => pid === undefined || !startTime || !processAlive(pid, startTime);
      const poll = setInterval(() => {
        if (isDead()) died.abort(new CancelledError('the hypervisor exited'));
      }, 1_000);
      if (isDead()) died.abort(new CancelledError('the hypervisor exited'));
      try {
        const client = await links.client(record, env.paths.vmsDir, { timeoutMs, signal: AbortSignal.any([ctx.signal, died.signal]) });
        report.line(`agent ${client.hello.agentVersion}, pid ${client.hello.pid}`);
        const resync = vmDirOf(env, vm.name).resyncPending;
        if (existsSync(resync)) {
          // Just resumed from a saved state: the guest clock stood still while it was saved, and
          // its RNG would repeat what it produced after the save. Both are fixed before anyone uses it.
          const clock = await client.clock({ set: true });
          const reseed = await reseedGuestRng(client).catch((error: unknown) => ({ kind: 'failed' as const, reason: error instanceof Error ? error.message : String(error) }));
          if (reseed.kind === 'failed') report.line(`warning: could not reseed the guest RNG: ${reseed.reason}`);
          if (reseed.kind === 'mixed') report.line(`warning: the guest RNG got fresh bytes but keeps its key until the kernel's next reseed: ${reseed.reason}`);
          await rm(resync, { force: true });
          report.line(`guest clock set (it was ${(-clock.offsetMs / 1000).toFixed(1)} s behind)${reseed.kind === 'reseeded' ? ', RNG reseeded' : ''}`);
        }
        return { boot, agent: links.status(record) ?? { state: 'up', version: client.hello.agentVersion, pid: client.hello.pid, since: new Date().toISOString() } };
      } catch (error) {
        // The poll may not have run yet when the link gives up on a VM that just died (it saw the
        // process gone first): ask again, so the error names the death whichever noticed first.
        if ((died.signal.aborted || isDead()) && !ctx.signal.aborted) {
          const status = pid !== undefined && startTime ? processStatus(pid, startTime) : undefined;
          const why = status?.reason ? `${record.spec.hypervisor.kind} ${status.reason}` : (vmRepository(env).findById(vm.id)?.stateReason ?? `${record.spec.hypervisor.kind} exited`);
          throw new InternalError('VM_DIED_BOOTING', `vm ${vm.name}: ${why} before its agent answered`, {
            hint: `see the guest console: banger vm logs ${vm.name}`,
          });
        }
        if (ctx.signal.aborted || error instanceof CancelledError) throw error;
        return down((error as Error).message);
      } finally {
        clearInterval(poll);
      }
    },
    hint: `see the guest console: banger vm logs ${vm.name}`,
  };
}
