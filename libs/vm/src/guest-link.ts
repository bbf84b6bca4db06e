import { readFile } from 'node:fs/promises';
import { NotFoundError } from '@banger/errors';
import { ensureUserKey, openSshSession, type SshSession } from '@banger/ssh';
import { sshGuestExec, type GuestExec } from '@banger/workspace';
import { userKeyPath, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';

/**
 * One ssh connection to a VM, opened on first use and shared by every step
 * of one run that talks to the guest (the workspace probe, sync, branch and
 * mise steps), so a `vm run` pays for one handshake, not one per step. A
 * failed connection is forgotten, so the next use dials again.
 */
export class GuestLink {
  #session: Promise<SshSession> | undefined;

  constructor(
    private readonly env: Pick<VmEnv, 'db' | 'paths' | 'config'>,
    private readonly vm: { id: string; name: string },
    private readonly signal: AbortSignal,
  ) {}

  /** Runs a shell command line in the guest over the shared connection. */
  readonly exec: GuestExec = async (command, io) => sshGuestExec(await this.session())(command, io);

  /** Ends the connection, if one was opened. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (session) await session.then((s) => s.close(), () => undefined);
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
