import { readFile } from 'node:fs/promises';
import { BangerError, ExitCode, InternalError, NotFoundError } from '@banger/errors';
import { connectSsh, ensureUserKey, SshWaitTimeoutError, waitForSsh } from '@banger/ssh';
import { processAlive, processStatus } from '@banger/hypervisor';
import type { Step } from '@banger/taskgraph';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmRecord } from '../vm-record.js';
import { BOOT_TIMEOUT_KVM_MS, BOOT_TIMEOUT_TCG_MS } from './wait-agent.js';


/** How long the boot waits (`vm.wait-agent`, then `vm.wait-ssh`), when the caller decides (`vm run --ssh-timeout`). */
export interface SshWaitOptions {
  timeoutMs?: number;
  /** What set it, named in the timeout error (`--ssh-timeout`). */
  timeoutSource?: string;
  /**
   * Whether the caller needs sshd: `always` (interactive `vm run`, `vm create`,
   * `vm start`: the user's next step is ssh), or `if-no-agent` (`vm run -- cmd`:
   * the command goes through the agent, so ssh is only waited for when it is down).
   */
  ssh?: 'always' | 'if-no-agent';
}

/** Outputs of `vm.wait-ssh`: the address, and whether sshd was proven this time (not when the agent made it unneeded). */
export interface WaitSshOutputs {
  ip: string;
  skipped?: boolean;
}

/**
 * `vm.wait-ssh`: the guest's sshd accepts banger's key and presents the host
 * key banger pinned for this VM. After `vm.wait-agent`: with `ssh:
 * 'if-no-agent'` and the agent up it is done at once (nothing of this run
 * needs ssh). Fails fast, with the hypervisor's exit reason, when the VM
 * process dies while waiting. The timeout and the mode are parameters of the
 * run, not fingerprinted inputs: a different one does not make a satisfied
 * wait run again (`isSatisfied` asks the guest itself).
 */
export function waitSshStep(env: VmEnv, vm: { id: string; name: string }, wait: SshWaitOptions = {}): Step<WaitSshOutputs> {
  const dir = vmDirOf(env, vm.name);
  // `if-no-agent`: the agent said hello during this boot (vm.wait-agent ran first), so ssh is not needed.
  const agentCarries = (record: VmRecord): boolean => wait.ssh === 'if-no-agent' && env.agent?.links.status(record)?.state === 'up';
  const target = async (signal?: AbortSignal) => {
    const record = vmRepository(env).findById(vm.id);
    if (!record?.ip) throw new NotFoundError('VM_NO_ADDRESS', `vm ${vm.name} has no address`);
    const key = await ensureUserKey(userKeyPath(env));
    const hostKey = (await readFile(dir.hostPublicKey, 'utf8')).trim();
    return { record, options: { host: record.ip, privateKey: key.privateKey, hostKey, ...(signal ? { signal } : {}) } };
  };
  return {
    id: 'vm.wait-ssh',
    title: 'Wait for ssh',
    needs: ['vm.boot', 'vm.wait-agent'],
    inputs: () => ({}),
    isSatisfied: async () => {
      const { record, options } = await target().catch(() => ({ record: undefined, options: undefined }));
      if (!record || !options || record.pid === undefined || !record.pidStartTime || !processAlive(record.pid, record.pidStartTime)) {
        return { satisfied: false, reason: 'the VM is not running' };
      }
      if (agentCarries(record)) return true;
      try {
        (await connectSsh({ ...options, readyTimeoutMs: 5_000 })).end();
        return true;
      } catch (error) {
        return { satisfied: false, reason: `ssh does not answer (${(error as Error).message})` };
      }
    },
    run: async (ctx, report) => {
      const { record, options } = await target(ctx.signal);
      const pid = record.pid;
      const startTime = record.pidStartTime;
      if (wait.ssh === 'if-no-agent' && env.agent && env.agent.links.status(record) === undefined) {
        // A daemon restarted since this boot has not met the agent (vm.wait-agent was satisfied by its record): ask briefly.
        await env.agent.links.probe(record, env.paths.vmsDir, ctx.signal);
      }
      if (agentCarries(record) && pid !== undefined && startTime && processAlive(pid, startTime)) {
        report.line('not waited for: the guest agent is up and this run does not need ssh');
        return { ip: options.host, skipped: true };
      }
      const died = new AbortController();
      const signal = AbortSignal.any([ctx.signal, died.signal]);
      // No pid at all counts as dead: the watcher clears it when the process dies between vm.boot and
      // this step (found by the fault suite: QEMU killed right after boot left this wait running 300 s).
      const isDead = (): boolean => pid === undefined || !startTime || !processAlive(pid, startTime);
      const poll = setInterval(() => {
        if (isDead()) died.abort();
      }, 1_000);
      if (isDead()) died.abort();
      let lastShown = 0;
      try {
        await waitForSsh({
          ...options,
          signal,
          vmName: vm.name,
          timeoutMs: wait.timeoutMs ?? (record.spec.hypervisor.accel === 'tcg' ? BOOT_TIMEOUT_TCG_MS : BOOT_TIMEOUT_KVM_MS),
          onAttempt: (attempt, error) => {
            if (Date.now() - lastShown < 5_000) return;
            lastShown = Date.now();
            report.line(`attempt ${attempt}: ${error.message}`);
          },
        });
      } catch (error) {
        if (died.signal.aborted && !ctx.signal.aborted) {
          const status = pid !== undefined && startTime ? processStatus(pid, startTime) : undefined;
          const why = status?.reason ? `${record.spec.hypervisor.kind} ${status.reason}` : (vmRepository(env).findById(vm.id)?.stateReason ?? `${record.spec.hypervisor.kind} exited`);
          throw new InternalError('VM_DIED_BOOTING', `vm ${vm.name}: ${why} before ssh answered`, {
            hint: `see the guest console: banger vm logs ${vm.name}`,
          });
        }
        if (error instanceof SshWaitTimeoutError && wait.timeoutMs !== undefined && wait.timeoutSource) {
          throw new BangerError('SSH_WAIT_TIMEOUT', `vm ${vm.name}: ssh did not answer within ${Math.round(wait.timeoutMs / 1000)} s (${wait.timeoutSource})`, {
            hint: `see the guest console: banger vm logs ${vm.name}`,
            exitCode: ExitCode.internal,
            cause: error,
          });
        }
        throw error;
      } finally {
        clearInterval(poll);
      }
      return { ip: options.host };
    },
    hint: `the guest may still be booting or its sshd failed; see banger vm logs ${vm.name}`,
  };
}
