import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '@banger/agent';
import { BangerError, CancelledError, InternalError, UserError } from '@banger/errors';
import { hasAgentChannel, processAlive } from '@banger/hypervisor';
import type { StepLogger } from '@banger/taskgraph';
import { driverFor } from '../driver-for.js';
import type { VmRecord } from '../vm-record.js';
import { VmDir } from '../vm-dir.js';

/** What the daemon knows of a VM's agent, as `vm show` / `vm list --json` report it. */
export type AgentStatus =
  | { state: 'up'; version: string; pid: number; since: string }
  | { state: 'down'; reason: string; since: string };

/** How long one attempt waits for the agent's hello before the connection is dropped and tried again. */
const HELLO_ATTEMPT_MS = 5_000;
/**
 * The pause between attempts. An agent that opens its port during the pause
 * answers only at the next attempt, so this bounds how late a boot's
 * readiness is noticed (issue 19: within 100 ms); a connect to QEMU's local
 * socket or Firecracker's vsock UDS costs next to nothing.
 */
const RETRY_MS = 100;
/** The pause before the next attempt when the caller asked for short first attempts (the agent is known to be running). */
const QUICK_RETRY_MS = 100;

/** Options of one wait for an agent's hello. */
export interface AgentWaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /**
   * How long the first attempt waits for the hello (then doubling up to
   * HELLO_ATTEMPT_MS), for an agent known to be running already: in a guest
   * just restored from a saved state, the agent still holds the port it had
   * open at the save and drops the host's first hello while it reopens it
   * (seen under QEMU's virtio-serial), so a short first attempt costs one
   * retry instead of a whole HELLO_ATTEMPT_MS.
   */
  firstAttemptMs?: number;
  /**
   * The guest was just booted from scratch, so its agent is this banger's,
   * which announces itself. Under QEMU one connection then waits out the
   * whole wait instead of bounded attempts: QEMU holds the host's bytes until
   * the guest opens its port, and an agent that opens it announces itself
   * (so it hears our hello again if a closing session dropped it). Dropping
   * the connection after an attempt was itself a hazard: the guest may hear of
   * that hang-up only after its next session answered us, and end that
   * session under our first request.
   */
  freshBoot?: boolean;
}

interface Link {
  /** The VM boot the link belongs to: a new boot (pid + start time) is a new agent. */
  boot: string;
  client?: AgentClient;
  connecting?: Promise<AgentClient>;
  status: AgentStatus;
}

/**
 * The daemon's connections to guest agents: at most one per VM (a QEMU
 * virtio-serial chardev takes one host connection at a time; under
 * Firecracker the guest's relay keeps only the newest), through the VM's
 * driver (QEMU: its chardev socket; Firecracker: vsock port 1024 through the
 * vsock UDS), opened on first use and re-opened when it closed — the agent
 * restarted, the daemon did (a new daemon starts with no links and connects
 * again), or a Firecracker snapshot restore reset the vsock transport. A restarted agent
 * behind a connection the host still holds (virtio-serial does not tell the
 * host the guest closed the port) answers the next request with "a request
 * before the hello"; `withClient` then reconnects and retries once, safe
 * because that request never started.
 */
/** How long a probe of an agent not known to be up may take (a connect and a hello): what a VM with a broken agent costs a run before ssh. */
export const AGENT_PROBE_MS = 3_000;

export class AgentLinks {
  private readonly links = new Map<string, Link>();

  constructor(
    readonly hostVersion: string,
    private readonly log?: StepLogger,
  ) {}

  /** The recorded status of a VM's agent (undefined: never tried since the daemon started). */
  status(vm: Pick<VmRecord, 'id'>): AgentStatus | undefined {
    const link = this.links.get(vm.id);
    if (!link) return undefined;
    if (link.client?.closed && link.status.state === 'up') {
      link.status = { state: 'down', reason: 'the connection to the agent closed (the agent restarted or the VM stopped)', since: new Date().toISOString() };
      link.client = undefined;
    }
    return link.status;
  }

  /** Records why the agent is down (a wait that timed out, a VM without a runtime disk). */
  markDown(vm: Pick<VmRecord, 'id' | 'pid' | 'pidStartTime'>, reason: string): void {
    const link = this.linkOf(vm);
    link.client?.close();
    link.client = undefined;
    link.status = { state: 'down', reason, since: new Date().toISOString() };
  }

  /** Drops a VM's link (it stopped or was deleted). */
  forget(vmId: string): void {
    this.links.get(vmId)?.client?.close();
    this.links.delete(vmId);
  }

  /**
   * Tries, briefly (AGENT_PROBE_MS), to reach an agent this daemon does not
   * know to be up — a VM booted before a daemon restart, or one whose agent
   * was seen down and may be back — and returns the status after the try.
   * Never throws: a failure is recorded in the status.
   */
  async probe(vm: VmRecord, vmsDir: string, signal?: AbortSignal): Promise<AgentStatus | undefined> {
    if (this.status(vm)?.state !== 'up') await this.client(vm, vmsDir, { timeoutMs: AGENT_PROBE_MS, ...(signal ? { signal } : {}) }).catch(() => undefined);
    return this.status(vm);
  }

  /**
   * A connected client for the VM, connecting (and retrying while the agent
   * is not up yet) until `timeoutMs`. Fails with AGENT_HELLO_TIMEOUT naming
   * the last error, or VM_NOT_RUNNING when the hypervisor process is gone.
   */
  async client(vm: VmRecord, vmsDir: string, options: AgentWaitOptions): Promise<AgentClient> {
    const link = this.linkOf(vm);
    if (link.client && !link.client.closed) return link.client;
    link.client = undefined;
    // Concurrent callers share one connection attempt.
    link.connecting ??= this.connect(vm, vmsDir, link, options).finally(() => (link.connecting = undefined));
    return link.connecting;
  }

  /**
   * Runs `use` with the VM's client; when the agent answers that the request
   * came before a hello (it restarted behind our connection), reconnects and
   * runs it once more.
   */
  async withClient<T>(vm: VmRecord, vmsDir: string, options: { timeoutMs: number; signal?: AbortSignal }, use: (client: AgentClient) => Promise<T>): Promise<T> {
    const first = await this.client(vm, vmsDir, options);
    try {
      return await use(first);
    } catch (error) {
      if (!isStaleSession(error)) throw error;
      this.log?.info({ vm: vm.name }, 'guest agent restarted behind the connection: reconnecting');
      const link = this.linkOf(vm);
      if (link.client === first) {
        first.close();
        link.client = undefined;
      }
      return use(await this.client(vm, vmsDir, options));
    }
  }

  private linkOf(vm: Pick<VmRecord, 'id' | 'pid' | 'pidStartTime'>): Link {
    const boot = `${vm.pid}:${vm.pidStartTime}`;
    let link = this.links.get(vm.id);
    if (!link || link.boot !== boot) {
      link?.client?.close();
      link = { boot, status: { state: 'down', reason: 'not connected yet', since: new Date().toISOString() } };
      this.links.set(vm.id, link);
    }
    return link;
  }

  private async connect(vm: VmRecord, vmsDir: string, link: Link, options: AgentWaitOptions): Promise<AgentClient> {
    const driver = driverFor(vm.spec.hypervisor);
    if (!hasAgentChannel(driver)) throw new InternalError('AGENT_NOT_CONFIGURED', `vm ${vm.name}: its hypervisor has no agent channel`);
    const dir = new VmDir(vmsDir, vm.name);
    const deadline = Date.now() + options.timeoutMs;
    let last: Error | undefined;
    let attemptLimitMs = options.firstAttemptMs ?? HELLO_ATTEMPT_MS;
    const patient = options.freshBoot === true && options.firstAttemptMs === undefined && vm.spec.hypervisor.kind === 'qemu';
    for (;;) {
      if (options.signal?.aborted) throw new CancelledError(`waiting for the agent of vm ${vm.name}: cancelled`);
      if (vm.pid === undefined || !vm.pidStartTime || !processAlive(vm.pid, vm.pidStartTime)) {
        throw new UserError('VM_NOT_RUNNING', `vm ${vm.name} is not running`, { hint: `start it: banger vm start ${vm.name}` });
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const handle = { kind: vm.spec.hypervisor.kind, pid: vm.pid, startTime: vm.pidStartTime, vmDir: dir.root };
        // One attempt is bounded (a Firecracker CONNECT that is never answered must not eat the whole wait).
        const attemptMs = patient ? Math.max(left, 1_000) : Math.min(attemptLimitMs, Math.max(left, 1_000));
        attemptLimitMs = Math.min(attemptLimitMs * 2, HELLO_ATTEMPT_MS);
        const socket = await driver.connectAgent(handle, { agentSocketPath: dir.agentSocket }, { timeoutMs: attemptMs, ...(options.signal ? { signal: options.signal } : {}) });
        // The caller's cancel (the boot watch ending the wait: grace, timeout, a dead VM) ends a waiting hello too.
        const hangUp = (): void => void socket.destroy();
        options.signal?.addEventListener('abort', hangUp, { once: true });
        const client = await AgentClient.connect(socket, { hostVersion: this.hostVersion, timeoutMs: attemptMs }).finally(() => options.signal?.removeEventListener('abort', hangUp));
        link.client = client;
        link.status = { state: 'up', version: client.hello.agentVersion, pid: client.hello.pid, since: new Date().toISOString() };
        this.log?.info({ vm: vm.name, agentVersion: client.hello.agentVersion, agentPid: client.hello.pid }, 'guest agent connected');
        return client;
      } catch (error) {
        last = error as Error;
        // A protocol mismatch, or a vsock socket that is not Firecracker's, does not heal by retrying.
        if (error instanceof BangerError && (error.code === 'AGENT_PROTOCOL_MISMATCH' || error.code === 'AGENT_VSOCK_BAD_REPLY')) {
          link.status = { state: 'down', reason: error.message, since: new Date().toISOString() };
          throw error;
        }
      }
      await sleep(Math.min(options.firstAttemptMs ? QUICK_RETRY_MS : RETRY_MS, Math.max(deadline - Date.now(), 0)), undefined, options.signal ? { signal: options.signal } : {}).catch(() => undefined);
    }
    const reason = `no hello within ${Math.round(options.timeoutMs / 1000)} s${last ? ` (last: ${last.message})` : ''}`;
    link.status = { state: 'down', reason, since: new Date().toISOString() };
    throw new InternalError('AGENT_HELLO_TIMEOUT', `vm ${vm.name}: the guest agent did not answer: ${reason}`, {
      hint: `the guest may still be booting, or lack the agent unit (VMs created before banger ran agents); see banger vm logs ${vm.name}`,
    });
  }
}

/** The agent's answer to a request sent on a connection it never greeted: it restarted behind it. */
function isStaleSession(error: unknown): boolean {
  return error instanceof BangerError && error.code === 'AGENT_BAD_REQUEST' && /before the hello/.test(error.message);
}
