import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentClient } from '@banger/agent';
import { BangerError, CancelledError, ExitCode, InternalError } from '@banger/errors';
import { processAlive, processStatus } from '@banger/hypervisor';
import { tcpPortOpen } from '@banger/ssh';
import type { Step, StepReport } from '@banger/taskgraph';
import type { AgentStatus } from '../agent/agent-links.js';
import { reseedGuestRng } from '../agent/reseed-guest-rng.js';
import { vmDirOf, vmRepository, type VmEnv } from '../vm-env.js';
import type { VmRecord } from '../vm-record.js';
import type { RuntimeDiskOutputs } from './runtime-disk.js';
import type { SshWaitOptions } from './wait-ssh.js';

/** How long a boot may take until the agent or sshd answers (`--ssh-timeout` overrides it). Under TCG a Debian guest on a loaded host needs 15–40 s. */
export const BOOT_TIMEOUT_TCG_MS = 300_000;
export const BOOT_TIMEOUT_KVM_MS = 120_000;
/**
 * How long the agent may stay silent once the guest's sshd listens. The unit
 * starts at sysinit, long before sshd (node's cold start under TCG is ~1.5 s,
 * sshd listens ~20 s into a boot), so a healthy agent has said hello by then;
 * the grace only bounds what a guest without a working agent costs.
 */
export const AGENT_GRACE_TCG_MS = 60_000;
export const AGENT_GRACE_KVM_MS = 20_000;
/** How long the guest may take, after the hello, to have a default route and nameservers before the run goes on with a warning. */
export const NETWORK_WAIT_TCG_MS = 60_000;
export const NETWORK_WAIT_KVM_MS = 20_000;
/** sshd is probed this often (a TCP connect, no handshake) while the agent is awaited. */
const SSH_PROBE_MS = 1_000;
/** The guest's network is asked for this often after the hello (one in-process read in the agent). */
const NETWORK_POLL_MS = 100;

/** Outputs of `vm.wait-agent`: the boot it was waited for and what was found. */
export interface WaitAgentOutputs {
  /** `<pid>:<start time>` of the hypervisor process. */
  boot: string;
  agent: AgentStatus;
}

/** The timings of one wait; each defaults by the VM's acceleration (tests shorten them). */
export interface AgentWaitOptions extends SshWaitOptions {
  graceMs?: number;
  networkMs?: number;
  /** The guest's sshd port (22; tests point it at a listener of their own). */
  sshPort?: number;
}

/**
 * `vm.wait-agent`: the readiness of a booted VM, from inside it. Right after
 * `vm.boot` (which gives a guest restored warm its identity) it waits for the
 * guest agent's hello — its version and pid are recorded with the daemon's
 * link and shown by `vm show` / `vm list --json` — and then for the guest's
 * network (a default route and nameservers, asked through the agent), so a
 * command run through the agent right after sees the network. Meanwhile it
 * probes the guest's port 22 every second: once sshd listens, the agent gets
 * a grace and is then recorded as down (a warning, not a failure: the VM
 * works over ssh, `vm show` says why, and this boot is not waited for again).
 * Neither answering within the boot timeout fails the step (SSH_WAIT_TIMEOUT,
 * the VM kept for `vm logs`); a hypervisor that dies fails it at once. The
 * channel is the hypervisor's (QEMU: virtio-serial socket; Firecracker: vsock
 * port 1024 through the VM's vsock UDS), chosen by the driver of the VM's
 * kind. The timeouts are parameters of the run, not inputs.
 */
export function waitAgentStep(env: VmEnv, vm: { id: string; name: string }, options: AgentWaitOptions = {}): Step<WaitAgentOutputs> {
  const bootOf = () => {
    const record = vmRepository(env).findById(vm.id);
    return { record, boot: `${record?.pid}:${record?.pidStartTime}` };
  };
  return {
    id: 'vm.wait-agent',
    title: 'Wait for the guest agent',
    needs: ['vm.boot', 'vm.runtime-disk'],
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
      const tcg = record.spec.hypervisor.accel === 'tcg';
      const timeoutMs = options.timeoutMs ?? (tcg ? BOOT_TIMEOUT_TCG_MS : BOOT_TIMEOUT_KVM_MS);
      const graceMs = options.graceMs ?? (tcg ? AGENT_GRACE_TCG_MS : AGENT_GRACE_KVM_MS);

      // A hypervisor that dies meanwhile fails the step at once, rather than waiting out the
      // timeout and calling a dead VM one "without an agent" (found by the fault suite).
      const { pid, pidStartTime: startTime } = record;
      const isDead = (): boolean => pid === undefined || !startTime || !processAlive(pid, startTime);
      // Ends the hello wait: the step is cancelled, the VM died, the boot timed out, or sshd's grace ran out.
      const stop = new AbortController();
      const signal = AbortSignal.any([ctx.signal, stop.signal]);
      let ended: 'died' | 'timeout' | 'grace' | undefined;
      const end = (why: NonNullable<typeof ended>): void => {
        ended ??= why;
        stop.abort(new CancelledError(`waiting for the agent of vm ${vm.name}: ${why}`));
      };
      const started = Date.now();
      const watch = watchBoot({ record, sshPort: options.sshPort ?? 22, isDead, signal, timeoutMs, graceMs, started, end, onSsh: (at) => {
        report.line(`sshd listens after ${((at - started) / 1000).toFixed(1)} s; the agent has ${Math.round(graceMs / 1000)} s more to say hello`);
      } });
      // Resumed from a saved state (its clock and RNG still to resync), not booted afresh: the file goes only once resynced.
      const resumed = existsSync(vmDirOf(env, vm.name).resyncPending);
      let client: AgentClient;
      try {
        // The hello wait itself is bounded by `stop`: the link's own timeout is only a backstop.
        client = await links.client(record, env.paths.vmsDir, { timeoutMs: timeoutMs + graceMs + SSH_PROBE_MS, signal, ...(resumed ? {} : { freshBoot: true }) });
      } catch (error) {
        if ((ended === 'died' || isDead()) && !ctx.signal.aborted) throw diedError(env, record, vm.name);
        if (ctx.signal.aborted) throw error;
        if (ended === 'timeout') throw neitherAnswered(vm.name, timeoutMs, options.timeoutSource, error);
        if (ended === 'grace') return down(`no hello within ${Math.round(graceMs / 1000)} s of sshd listening`);
        return down((error as Error).message);
      } finally {
        stop.abort();
        await watch;
      }
      report.line(`agent ${client.hello.agentVersion}, pid ${client.hello.pid}, after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (resumed) {
        // Right after a restore the guest agent may still be in the session it had before the suspend:
        // it answers our hello there, then sees that host hang up and opens a new session, and a request
        // sent in between is lost. The new session's announcement fails it at once (AGENT_RESTARTED); the
        // deadline is for an agent that does not announce. Either way the resync gets once a fresh connection.
        const resync = (c: AgentClient) => withDeadline(resyncIfResumed(env, vm.name, c, report), RESYNC_ANSWER_MS, ctx.signal);
        try {
          await resync(client);
        } catch (error) {
          if (ctx.signal.aborted || isDead()) throw ctx.signal.aborted ? error : diedError(env, record, vm.name);
          report.line(`the agent did not answer the resync (${(error as Error).message}): reconnecting`);
          links.forget(record.id);
          client = await links.client(record, env.paths.vmsDir, { timeoutMs: graceMs, signal: ctx.signal });
          await resync(client);
        }
      }
      const reconnect = () => links.client(record, env.paths.vmsDir, { timeoutMs: graceMs, signal: ctx.signal });
      await waitForNetwork(client, { timeoutMs: options.networkMs ?? (tcg ? NETWORK_WAIT_TCG_MS : NETWORK_WAIT_KVM_MS), signal: ctx.signal, isDead, reconnect }, report);
      if (isDead() && !ctx.signal.aborted) throw diedError(env, record, vm.name);
      return { boot, agent: links.status(record) ?? { state: 'up', version: client.hello.agentVersion, pid: client.hello.pid, since: new Date().toISOString() } };
    },
    hint: `see the guest console: banger vm logs ${vm.name}`,
  };
}

/**
 * The watch beside the hello wait, until `signal` ends it: every second, is
 * the hypervisor alive, has the boot timed out, does sshd listen (then: has
 * the agent's grace run out). Resolves when the wait ends; never rejects.
 */
async function watchBoot(w: {
  record: VmRecord;
  sshPort: number;
  isDead: () => boolean;
  signal: AbortSignal;
  timeoutMs: number;
  graceMs: number;
  started: number;
  end: (why: 'died' | 'timeout' | 'grace') => void;
  onSsh: (at: number) => void;
}): Promise<void> {
  let sshSince: number | undefined;
  while (!w.signal.aborted) {
    const tick = Date.now();
    if (w.isDead()) return w.end('died');
    if (sshSince === undefined && w.record.ip && (await tcpPortOpen(w.record.ip, w.sshPort, SSH_PROBE_MS, w.signal))) {
      sshSince = Date.now();
      w.onSsh(sshSince);
    }
    const now = Date.now();
    if (sshSince !== undefined && now - sshSince >= w.graceMs) return w.end('grace');
    if (sshSince === undefined && now - w.started >= w.timeoutMs) return w.end('timeout');
    await sleep(Math.max(0, SSH_PROBE_MS - (now - tick)), undefined, { signal: w.signal }).catch(() => undefined);
  }
}

/** Just resumed from a saved state: the guest clock stood still while it was saved, and its RNG would repeat what it produced after the save. Both are fixed before anyone uses it. */
async function resyncIfResumed(env: VmEnv, name: string, client: AgentClient, report: StepReport): Promise<void> {
  const resync = vmDirOf(env, name).resyncPending;
  if (!existsSync(resync)) return;
  const clock = await client.clock({ set: true });
  const reseed = await reseedGuestRng(client).catch((error: unknown) => ({ kind: 'failed' as const, reason: error instanceof Error ? error.message : String(error) }));
  if (reseed.kind === 'failed') report.line(`warning: could not reseed the guest RNG: ${reseed.reason}`);
  if (reseed.kind === 'mixed') report.line(`warning: the guest RNG got fresh bytes but keeps its key until the kernel's next reseed: ${reseed.reason}`);
  await rm(resync, { force: true });
  report.line(`guest clock set (it was ${(-clock.offsetMs / 1000).toFixed(1)} s behind)${reseed.kind === 'reseeded' ? ', RNG reseeded' : ''}`);
}

/**
 * After the hello the guest may still be configuring its network (the agent
 * starts before it): a command run through the agent at once must see it, so
 * the guest is asked every 100 ms for a default route and nameservers. An
 * agent older than the question (no `network` in its facts) is not waited
 * for; a guest that never gets there costs one warning, and the run goes on.
 */
async function waitForNetwork(
  client: AgentClient,
  w: { timeoutMs: number; signal: AbortSignal; isDead: () => boolean; reconnect: () => Promise<AgentClient> },
  report: StepReport,
): Promise<void> {
  const started = Date.now();
  let polls = 0;
  let reconnects = 0;
  for (;;) {
    if (w.signal.aborted) throw new CancelledError('waiting for the guest network: cancelled');
    const facts = await withDeadline(client.facts(), FACTS_ANSWER_MS, w.signal).catch((error: unknown) => error as Error);
    if (facts instanceof Error) {
      if (w.signal.aborted || w.isDead()) return;
      // The session that said hello was a stale one (it saw an earlier host connection hang up, and a new one
      // announced itself): the question was lost, not refused. Ask the new session.
      if (facts instanceof BangerError && facts.code === 'AGENT_RESTARTED' && reconnects < MAX_RECONNECTS) {
        reconnects += 1;
        const fresh = await w.reconnect().catch((error: unknown) => error as Error);
        if (!(fresh instanceof Error)) {
          client = fresh;
          continue;
        }
      }
      // The agent said hello a moment ago: a question it cannot answer is its problem, not the boot's.
      report.line(`warning: could not ask the guest about its network (${facts.message}); going on`);
      return;
    }
    const network = facts.network;
    if (!network) return;
    if (network.defaultRoute && network.nameservers.length > 0) {
      if (polls > 0) report.line(`guest network up after ${((Date.now() - started) / 1000).toFixed(1)} s more`);
      return;
    }
    if (w.isDead()) return;
    if (Date.now() - started >= w.timeoutMs) {
      const missing = [...(network.defaultRoute ? [] : ['no default route']), ...(network.nameservers.length > 0 ? [] : ['no nameserver in /etc/resolv.conf'])].join(', ');
      report.line(`warning: the guest network is not configured after ${Math.round(w.timeoutMs / 1000)} s (${missing}); going on`);
      return;
    }
    polls += 1;
    await sleep(NETWORK_POLL_MS, undefined, { signal: w.signal }).catch(() => undefined);
  }
}

/** How long the resync of a resumed guest (clock, RNG) may take before the link is opened anew. */
const RESYNC_ANSWER_MS = 10_000;
/** New connections the network wait makes for an agent that restarted behind the first. */
const MAX_RECONNECTS = 2;
/** How long one facts question may take: an in-process read in the guest, so only a stalled link takes longer. */
const FACTS_ANSWER_MS = 5_000;

/** `promise`, or a rejection after `ms` or when `signal` aborts (the promise itself is left to settle). */
function withDeadline<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (error: Error): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    const onAbort = (): void => fail(new CancelledError('cancelled'));
    const timer = setTimeout(() => fail(new InternalError('AGENT_NO_ANSWER', `no answer within ${ms / 1000} s`)), ms);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => fail(error as Error),
    );
  });
}

/** Neither the agent nor sshd answered within the boot timeout: the VM is kept for `vm logs` (the code is the ssh wait's, which `vm run --rm` keeps it for). */
function neitherAnswered(name: string, timeoutMs: number, source: string | undefined, cause: unknown): BangerError {
  return new BangerError('SSH_WAIT_TIMEOUT', `vm ${name}: neither its agent nor ssh answered within ${Math.round(timeoutMs / 1000)} s${source ? ` (${source})` : ''}`, {
    hint: `the guest may be stuck booting; see its console: banger vm logs ${name}`,
    exitCode: ExitCode.internal,
    cause,
  });
}

function diedError(env: VmEnv, record: VmRecord, name: string): InternalError {
  const { pid, pidStartTime: startTime } = record;
  const status = pid !== undefined && startTime ? processStatus(pid, startTime) : undefined;
  const why = status?.reason ? `${record.spec.hypervisor.kind} ${status.reason}` : (vmRepository(env).findById(record.id)?.stateReason ?? `${record.spec.hypervisor.kind} exited`);
  return new InternalError('VM_DIED_BOOTING', `vm ${name}: ${why} before its agent or ssh answered`, {
    hint: `see the guest console: banger vm logs ${name}`,
  });
}
