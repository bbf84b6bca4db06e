import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SessionsClient, type SessionInfo, type SessionStartRequest } from '@banger/agent';
import { BangerError, CancelledError, InternalError, UserError } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import type { VmRecord } from '../vm-record.js';
import { vmRepository, type VmEnv } from '../vm-env.js';

/** How long a session call waits for a connection to the agent (normally there is one already). */
const CONNECT_TIMEOUT_MS = 15_000;
/** Completion must answer within its own small budget: it waits for a connection this long at most. */
const COMPLETE_TIMEOUT_MS = 800;
/** `session stop`: after the first signal, how often the state is read. */
const STOP_POLL_MS = 200;
/** After SIGKILL, how long the end may take to be recorded. */
const KILL_GRACE_MS = 5_000;

export type VmSession = SessionInfo & { vm: string };

/** What session calls need of the VM environment. */
export type SessionEnv = Pick<VmEnv, 'db' | 'paths' | 'agent'>;

function isRunning(vm: VmRecord): boolean {
  return vm.state === 'running' && vm.pid !== undefined && !!vm.pidStartTime && processAlive(vm.pid, vm.pidStartTime);
}

/** The checks every session call makes on its VM: it exists, runs, and has an agent channel. */
function sessionVm(env: SessionEnv, name: string): VmRecord {
  const vm = vmRepository(env).get(name);
  if (!isRunning(vm)) {
    throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (state ${vm.state}): sessions live in a running guest and end when it stops`, {
      hint: `start it: banger vm start ${name}`,
    });
  }
  return vm;
}

/**
 * Runs `use` with the sessions of a VM's agent (connecting first; an old
 * agent without sessions is an error). `use` must answer within `answerMs`:
 * an agent stopped behind an open connection (virtio-serial does not tell
 * the host) never answers, so the link is dropped (the next call
 * reconnects) and the call fails naming the VM.
 */
async function withSessions<T>(
  env: SessionEnv,
  name: string,
  options: { signal?: AbortSignal; timeoutMs?: number; answerMs?: number },
  use: (sessions: SessionsClient) => Promise<T>,
): Promise<T> {
  const vm = sessionVm(env, name);
  const links = env.agent?.links;
  if (!links) throw new UserError('AGENT_NOT_CONFIGURED', 'this daemon does not connect to guest agents', { hint: 'reinstall banger (make install) so the agent is beside the daemon' });
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const answerMs = options.answerMs ?? timeoutMs;
  return links.withClient(vm, env.paths.vmsDir, { timeoutMs, ...(options.signal ? { signal: options.signal } : {}) }, async (client) => {
    let timer: NodeJS.Timeout | undefined;
    const silence = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        links.markDown(vm, `no answer to a request within ${Math.round(answerMs / 1000)} s`);
        reject(
          new InternalError('AGENT_NO_ANSWER', `vm ${name}: the guest agent did not answer within ${Math.round(answerMs / 1000)} s`, {
            hint: `is banger-agent running in the guest? (banger vm ssh ${name} -- systemctl status banger-agent)`,
          }),
        );
      }, answerMs);
    });
    try {
      return await Promise.race([use(new SessionsClient(client)), silence]);
    } finally {
      clearTimeout(timer);
    }
  });
}

/** Prefixes an agent's error about a session with the VM it is in (`vm web: no session "x"`). */
async function inVm<T>(vm: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    // The agent's errors name the session, not the VM; a dropped connection names neither.
    if (error instanceof BangerError && (error.code.startsWith('SESSION_') || error.code.startsWith('AGENT_')) && !error.message.includes(`vm ${vm}`)) {
      error.message = `vm ${vm}: ${error.message.replace(/ in this guest$/, '')}`;
    }
    throw error;
  }
}

export function startVmSession(env: SessionEnv, vm: string, request: Omit<SessionStartRequest, 'op'>, signal?: AbortSignal): Promise<VmSession> {
  return inVm(vm, withSessions(env, vm, signal ? { signal } : {}, async (s) => ({ ...(await s.start(request)), vm })));
}

export interface SessionListing {
  sessions: VmSession[];
  /** VMs whose sessions could not be listed, and why (stopped: its sessions ended with it; the agent did not answer). */
  unavailable: Array<{ vm: string; reason: string }>;
}

/** The sessions of one VM, or of every running VM (a stopped VM named explicitly is reported as such, not an error). */
export async function listVmSessions(env: SessionEnv, vm: string | undefined, signal?: AbortSignal): Promise<SessionListing> {
  const repo = vmRepository(env);
  const vms = vm !== undefined ? [repo.get(vm)] : repo.list().filter(isRunning);
  const listing: SessionListing = { sessions: [], unavailable: [] };
  await Promise.all(
    vms.map(async (record) => {
      if (!isRunning(record)) {
        listing.unavailable.push({ vm: record.name, reason: `vm ${record.name} is ${record.state}: sessions end when their VM stops` });
        return;
      }
      try {
        const sessions = await withSessions(env, record.name, signal ? { signal } : {}, (s) => s.list());
        listing.sessions.push(...sessions.map((s) => ({ ...s, vm: record.name })));
      } catch (error) {
        if (vm !== undefined || error instanceof CancelledError) throw error;
        listing.unavailable.push({ vm: record.name, reason: (error as Error).message });
      }
    }),
  );
  listing.sessions.sort((a, b) => a.vm.localeCompare(b.vm) || a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name));
  listing.unavailable.sort((a, b) => a.vm.localeCompare(b.vm));
  return listing;
}

/** Session names of a running VM for shell completion: fast, silent, never waiting long. */
export async function sessionNamesForCompletion(env: SessionEnv, vm: string): Promise<string[]> {
  try {
    const sessions = await withSessions(env, vm, { timeoutMs: COMPLETE_TIMEOUT_MS }, (s) => s.list());
    return sessions.map((s) => s.name).sort();
  } catch {
    return [];
  }
}

export interface SessionLogsIo {
  emit(event: { data: string }): void;
  drained(): Promise<void>;
  signal: AbortSignal;
}

/** Relays a session's output (base64 events, paused while the caller is behind); with follow, until it ends or the call is cancelled. */
export async function vmSessionLogs(env: SessionEnv, vm: string, session: string, options: { tail?: number; follow?: boolean }, io: SessionLogsIo): Promise<{ bytes: number }> {
  const logs = await inVm(vm, withSessions(env, vm, { signal: io.signal }, async (s) => {
    const l = s.logs(session, options);
    // The agent answers an unknown session with an error before any output: surface it now, not as an empty stream.
    await l.ready;
    return l;
  }));
  let bytes = 0;
  const onAbort = (): void => logs.cancel();
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    logs.output.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      io.emit({ data: chunk.toString('base64') });
      logs.output.pause();
      void io.drained().then(() => logs.output.resume());
    });
    await Promise.race([Promise.all([finished(logs.output), inVm(vm, logs.done)]), aborted(io.signal)]);
    return { bytes };
  } catch (error) {
    if (error instanceof CancelledError) return { bytes };
    throw error;
  } finally {
    io.signal.removeEventListener('abort', onAbort);
  }
}

export interface SessionSendIo {
  input: Readable;
  emit(event: { ack: number }): void;
  signal: AbortSignal;
}

/** The call's input to the session's stdin, acknowledged as the agent takes it. */
export async function vmSessionSend(env: SessionEnv, vm: string, session: string, io: SessionSendIo): Promise<{ bytes: number }> {
  // Found within the answer window; the sending itself takes as long as the caller's input.
  const sessions = await inVm(
    vm,
    withSessions(env, vm, { signal: io.signal }, async (s) => {
      await s.get(session);
      return s;
    }),
  );
  io.input.on('data', (chunk: Buffer) => io.emit({ ack: chunk.length }));
  return inVm(vm, sessions.send(session, io.input));
}

/** Sends `signal` (default SIGTERM); unless it ends within `timeoutMs` (default 10 s), SIGKILL. Resolves with the ended session. */
export async function stopVmSession(env: SessionEnv, vm: string, session: string, options: { signal?: string; timeoutMs?: number }, abort?: AbortSignal): Promise<VmSession> {
  return inVm(
    vm,
    withSessions(env, vm, { ...(abort ? { signal: abort } : {}), answerMs: (options.timeoutMs ?? 10_000) + KILL_GRACE_MS + CONNECT_TIMEOUT_MS }, async (s) => {
      let info = await s.signal(session, options.signal ?? 'SIGTERM');
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      let killed = false;
      while (info.state === 'running') {
        if (abort?.aborted) throw new CancelledError('session stop: cancelled');
        if (!killed && Date.now() >= deadline) {
          killed = true;
          info = await s.signal(session, 'SIGKILL').catch((error: unknown) => {
            if (error instanceof BangerError && error.code === 'SESSION_ENDED') return s.get(session);
            throw error;
          });
          continue;
        }
        if (killed && Date.now() >= deadline + KILL_GRACE_MS) break;
        await sleep(STOP_POLL_MS);
        info = await s.get(session);
      }
      return { ...info, vm };
    }),
  );
}

export function signalVmSession(env: SessionEnv, vm: string, session: string, signal: string): Promise<VmSession> {
  return inVm(vm, withSessions(env, vm, {}, async (s) => ({ ...(await s.signal(session, signal)), vm })));
}

export function resizeVmSession(env: SessionEnv, vm: string, session: string, rows: number, cols: number): Promise<VmSession> {
  return inVm(vm, withSessions(env, vm, {}, async (s) => ({ ...(await s.resize(session, rows, cols)), vm })));
}

export function removeVmSession(env: SessionEnv, vm: string, session: string): Promise<{ vm: string; name: string }> {
  return inVm(
    vm,
    withSessions(env, vm, {}, async (s) => {
      await s.rm(session);
      return { vm, name: session };
    }),
  );
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void => reject(new CancelledError('session logs: cancelled'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}
