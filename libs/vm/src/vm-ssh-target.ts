import { readFile } from 'node:fs/promises';
import { InternalError, UserError } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import { ensureUserKey } from '@banger/ssh';
import { knownHostsPath, userKeyPath, vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import type { VmRecord } from './vm-record.js';

/** Where and how to reach a running VM over ssh (for the CLI's own ssh clients and the daemon's). */
export interface VmSshTarget {
  vm: string;
  ip: string;
  user: string;
  /** banger's private key file (ssh_key_path or the managed one). */
  keyPath: string;
  /** banger's pinned known_hosts file. */
  knownHostsPath: string;
  /** The VM's pinned host public key line (`ssh-ed25519 AAAA…`). */
  hostKey: string;
}

/** A VM whose hypervisor process is alive and which has an address; otherwise a UserError saying how to start it. */
export function runningVm(env: Pick<VmEnv, 'db'>, name: string): VmRecord & { ip: string } {
  const vm = vmRepository(env).get(name);
  const alive = vm.pid !== undefined && vm.pidStartTime !== undefined && processAlive(vm.pid, vm.pidStartTime);
  if (!alive || !vm.ip) {
    throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (state ${vm.state}${vm.stateReason ? `: ${vm.stateReason}` : ''})`, {
      hint: vm.state === 'creating' ? `finish it with banger vm create --name ${name}` : `start it with banger vm start ${name}`,
    });
  }
  return { ...vm, ip: vm.ip };
}

/** A running VM's ssh coordinates; a VM that is not running is a UserError saying how to start it. */
export async function vmSshTarget(env: Pick<VmEnv, 'db' | 'paths' | 'config'>, name: string): Promise<VmSshTarget> {
  const vm = runningVm(env, name);
  const key = await ensureUserKey(userKeyPath(env));
  const hostKeyFile = vmDirOf(env, name).hostPublicKey;
  const hostKey = await readFile(hostKeyFile, 'utf8').catch((error: unknown) => {
    throw new InternalError('VM_HOST_KEY_MISSING', `vm ${name}: cannot read its pinned host key ${hostKeyFile}: ${(error as Error).message}`, {
      hint: `recreate the VM (banger vm delete ${name})`,
      cause: error,
    });
  });
  return { vm: name, ip: vm.ip, user: 'root', keyPath: key.privateKeyPath, knownHostsPath: knownHostsPath(env), hostKey: hostKey.trim() };
}
