import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CancelledError, NotFoundError } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import { ensureUserKey, openSshSession, type SshSession } from '@banger/ssh';
import { agentGuestExec, sshGuestExec, type GuestExec } from '@banger/workspace';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import { AGENT_PROBE_MS } from './agent/agent-links.js';

/**
 * The guest commands of one run (the workspace probe, sync, branch and mise
 * steps), through the guest agent when it is up — no ssh handshake, no
 * cipher in an emulated guest — else over one ssh connection, opened on
 * first use and shared, so a `vm run` pays for one handshake, not one per
 * step. The choice is made once per run, at the first command; falling back
 * to ssh is said once through `notice`. A failed ssh connection is
 * forgotten, so the next use dials again.
 */
export class GuestLink {
  #session: Promise<SshSession> | undefined;
  #transport: Promise<{ via: 'agent' | 'ssh'; exec: GuestExec }> | undefined;

  constructor(
    private readonly env: Pick<VmEnv, 'db' | 'paths' | 'config' | 'log'> & Partial<Pick<VmEnv, 'agent'>>,
    private readonly vm: { id: string; name: string },
    private readonly signal: AbortSignal,
    private readonly notice: (line: string) => void = () => undefined,
  ) {}

  /** Runs a shell command line in the guest, through the agent or over ssh. */
  readonly exec: GuestExec = async (command, io) => (await this.transport()).exec(command, io);

  /** Which way the commands went: `agent`, `ssh`, or undefined when none ran. */
  async via(): Promise<'agent' | 'ssh' | undefined> {
    return this.#transport ? (await this.#transport.catch(() => undefined))?.via : undefined;
  }

  /** Ends the ssh connection, if one was opened (the agent's connection is the daemon's, shared). */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) await session.then((s) => s.close(), () => undefined);
  }

  private transport(): Promise<{ via: 'agent' | 'ssh'; exec: GuestExec }> {
    this.#transport ??= this.choose().catch((error: unknown) => {
      this.#transport = undefined;
      throw error;
    });
    return this.#transport;
  }

  private async choose(): Promise<{ via: 'agent' | 'ssh'; exec: GuestExec }> {
    const why = await this.agentProblem();
    if (why === undefined) {
      const links = this.env.agent!.links;
      const record = vmRepository(this.env).findById(this.vm.id)!;
      const options = { timeoutMs: AGENT_PROBE_MS, signal: this.signal };
      this.env.log.info({ vm: this.vm.name }, 'guest commands of this run go through the guest agent');
      return {
        via: 'agent',
        // A command without a stream on stdin is retried once on a new connection when the agent restarted
        // behind ours (withClient); a streamed one is not (its stdin may be partly consumed), and it comes after one that was.
        exec: (command, io) =>
          io?.stdin instanceof Readable
            ? links.client(record, this.env.paths.vmsDir, options).then((client) => agentGuestExec(client)(command, io))
            : links.withClient(record, this.env.paths.vmsDir, options, (client) => agentGuestExec(client)(command, io)),
      };
    }
    this.notice(`warning: the guest agent of ${this.vm.name} ${why}; syncing over ssh`);
    this.env.log.warn({ vm: this.vm.name, reason: why }, 'guest agent not usable: guest commands go over ssh');
    return { via: 'ssh', exec: async (command, io) => sshGuestExec(await this.session())(command, io) };
  }

  /** Why the agent cannot take the run's guest commands, or undefined when it is up (connecting to it if needed). */
  private async agentProblem(): Promise<string | undefined> {
    const links = this.env.agent?.links;
    if (!links) return 'is not configured in this daemon';
    const record = vmRepository(this.env).findById(this.vm.id);
    if (!record || record.pid === undefined || !record.pidStartTime || !processAlive(record.pid, record.pidStartTime)) return 'is unreachable (the VM is not running)';
    const status = links.status(record);
    if (status?.state === 'up') return undefined;
    try {
      await links.client(record, this.env.paths.vmsDir, { timeoutMs: AGENT_PROBE_MS, signal: this.signal });
      return undefined;
    } catch (error) {
      if (error instanceof CancelledError || this.signal.aborted) throw error;
      return `is down (${links.status(record)?.state === 'down' ? (links.status(record) as { reason: string }).reason : (error as Error).message})`;
    }
  }

  private session(): Promise<SshSession> {
    this.#session ??= this.open().catch((error: unknown) => {
      this.#session = undefined;
      throw error;
    });
    return this.#session;
  }

  private async open(): Promise<SshSession> {
    const record = vmRepository(this.env).findById(this.vm.id);
    if (!record?.ip) throw new NotFoundError('VM_NO_ADDRESS', `vm ${this.vm.name} has no address`);
    const key = await ensureUserKey(userKeyPath(this.env));
    const hostKey = (await readFile(vmDirOf(this.env, this.vm.name).hostPublicKey, 'utf8')).trim();
    return openSshSession({ host: record.ip, privateKey: key.privateKey, hostKey, signal: this.signal });
  }
}
