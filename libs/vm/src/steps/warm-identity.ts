import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { InternalError } from '@banger/errors';
import { guestNetworkFor, parseSubnet } from '@banger/network';
import { ensureUserKey } from '@banger/ssh';
import type { StepContext, StepReport } from '@banger/taskgraph';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmCreateSpec } from '../vm-record.js';
import { writeWarmIdentity } from '../warm/apply-identity.js';
import { attachTap } from '../warm/warm-restore.js';

/** How long the agent of a just-restored guest may take to answer (it was running at the snapshot: it only reconnects). */
const RESTORED_AGENT_MS = 60_000;
/** Its first hello attempt: an agent that is running answers in well under a second, even under TCG. */
const RESTORED_HELLO_ATTEMPT_MS = 1_500;
/** How long its first answer after the hello may take (the guest's clock, read in-process). */
const LIVE_ANSWER_MS = 3_000;
/** How long the whole identity may take once the agent answers (≈ 2–5 s under TCG on a loaded host): a lost request fails, never hangs. */
const IDENTITY_ANSWER_MS = 120_000;

class DeadlineError extends Error {}

/** `promise`, or a DeadlineError after `ms`, or the signal's reason when it aborts first. */
function withDeadline<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done();
      reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new DeadlineError(`no answer within ${ms} ms`));
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        done();
        resolve(value);
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}

/**
/**
 * Gives a guest restored from a warm template this VM's identity (called by
 * `vm.boot`, right after the restore, in the same step: a failure here falls
 * back to a cold boot there). The guest is still the template — its
 * hostname, MAC, address, machine-id, host key, clock and RNG. Before anything
 * else can reach it (its tap is off the bridge until the end of this, and
 * `vm.wait-agent` / `vm.wait-ssh` come after the boot step), the agent gives
 * it this VM's (`writeWarmIdentity`: clock, RNG, the host key `vm.boot`
 * pinned, /root, network as the cold path's `ip=` configures it, resolv.conf,
 * hostname, machine-id, sshd re-executed). Then the tap goes back on the
 * bridge and `identity-pending` is removed. Returns applied: false when no
 * restore is waiting for it.
 */
export async function applyWarmIdentity(
  env: VmEnv,
  vm: { id: string; name: string; fileSync: VmCreateSpec['fileSync'] },
  ctx: Pick<StepContext, 'signal'>,
  report: StepReport,
): Promise<{ applied: boolean }> {
  const dir = vmDirOf(env, vm.name);
  if (!existsSync(dir.identityPending)) return { applied: false };
  const record = vmRepository(env).findById(vm.id);
  const links = env.agent?.links;
  if (!record?.ip || !record.mac || !record.tap || !links) throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: no address or agent link to give the restored guest its identity`);
  const started = Date.now();
  // The agent was running at the save: short first attempts (its first hello after a restore can be dropped).
  const connect = () => links.client(record, env.paths.vmsDir, { timeoutMs: RESTORED_AGENT_MS, signal: ctx.signal, firstAttemptMs: RESTORED_HELLO_ATTEMPT_MS });
  let client = await connect();
  // It may also answer the hello in the session it had at the save, then see that host gone and open a new
  // one, losing what was sent in between (a run hung here): one cheap question with a deadline, else anew.
  for (let tries = 1; ; tries++) {
    const live = await withDeadline(client.clock(), LIVE_ANSWER_MS, ctx.signal).then(
      () => true,
      (error: unknown) => {
        if (ctx.signal.aborted) throw error;
        return false;
      },
    );
    if (live) break;
    if (tries >= 3) throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: the restored guest's agent said hello but answers nothing`);
    report.line('the agent did not answer after its hello: reconnecting');
    links.forget(record.id);
    client = await connect();
  }
  report.line(`agent answered after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const network = guestNetworkFor({ ip: record.ip, hostname: vm.name }, env.config.bridgeSubnet);
  const identity = {
    name: vm.name,
    mac: record.mac,
    address: { ip: record.ip, prefix: parseSubnet(env.config.bridgeSubnet).prefix, gateway: network.gateway, dns: network.dns },
    authorizedKeys: (await ensureUserKey(userKeyPath(env))).publicKey,
    fileSync: vm.fileSync,
    dir,
  };
  const { clock } = await withDeadline(writeWarmIdentity(client, identity, report, ctx.signal), IDENTITY_ANSWER_MS, ctx.signal).catch((error: unknown) => {
    if (error instanceof DeadlineError) throw new InternalError('WARM_IDENTITY_FAILED', `vm ${vm.name}: the restored guest's agent did not finish its identity within ${IDENTITY_ANSWER_MS / 1000} s`);
    throw error;
  });
  await attachTap(env, record.tap);
  await rm(dir.identityPending, { force: true });
  report.line(`hostname ${vm.name}, ${record.ip} (${record.mac}), new machine-id and host key, clock (was ${(-clock.offsetMs / 1000).toFixed(1)} s off) and RNG reseeded in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { applied: true };
}
