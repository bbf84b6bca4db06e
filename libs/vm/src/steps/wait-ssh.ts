import { readFile } from 'node:fs/promises';
import { BangerError, ExitCode, InternalError, NotFoundError } from '@banger/errors';
import { connectSsh, ensureUserKey, SshWaitTimeoutError, waitForSsh } from '@banger/ssh';
import { processAlive, processStatus } from '@banger/hypervisor';
import type { Step } from '@banger/taskgraph';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';

/** Under TCG a Debian guest on a loaded host needs 15–40 s to ssh; leave room. */
const TIMEOUT_TCG_MS = 300_000;
const TIMEOUT_KVM_MS = 120_000;

/** How long `vm.wait-ssh` waits, when the caller decides (`vm run --ssh-timeout`). */
export interface SshWaitOptions {
  timeoutMs?: number;
  /** What set it, named in the timeout error (`--ssh-timeout`). */
  timeoutSource?: string;
}

/**
 * `vm.wait-ssh`: the guest's sshd accepts banger's key and presents the host
 * key banger pinned for this VM. Fails fast, with the hypervisor's exit
 * reason, when the VM process dies while waiting. The timeout is a parameter
 * of the run, not a fingerprinted input: a different timeout does not make a
 * satisfied wait run again.
 */
export function waitSshStep(env: VmEnv, vm: { id: string; name: string }, wait: SshWaitOptions = {}): Step<{ ip: string }> {
  const dir = vmDirOf(env, vm.name);
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
    needs: ['vm.boot'],
    inputs: () => ({}),
    isSatisfied: async () => {
      const { record, options } = await target().catch(() => ({ record: undefined, options: undefined }));
      if (!record || !options || record.pid === undefined || !record.pidStartTime || !processAlive(record.pid, record.pidStartTime)) {
        return { satisfied: false, reason: 'the VM is not running' };
      }
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
          timeoutMs: wait.timeoutMs ?? (record.spec.hypervisor.accel === 'tcg' ? TIMEOUT_TCG_MS : TIMEOUT_KVM_MS),
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
