import { UserError } from '@banger/errors';
import { ensureUserKey, openSshArgs } from '@banger/ssh';
import { processAlive } from '@banger/hypervisor';
import { knownHostsPath, userKeyPath, vmRepository, type VmEnv } from './vm-env.js';

/** The command line `banger vm ssh` runs: the system OpenSSH client, pinned and with banger's key only. */
export interface VmSshCommand {
  /** argv[0] is `ssh`. */
  argv: string[];
  ip: string;
}

/**
 * The `ssh` invocation for a running VM: banger's key only, banger's pinned
 * known_hosts only, StrictHostKeyChecking=yes with HostKeyAlias `<name>.vm`.
 * A command given as an argv is quoted so each word arrives unchanged.
 */
export async function vmSshCommand(env: VmEnv, name: string, options: { command?: string[]; tty?: boolean } = {}): Promise<VmSshCommand> {
  const vm = vmRepository(env).get(name);
  const alive = vm.pid !== undefined && vm.pidStartTime !== undefined && processAlive(vm.pid, vm.pidStartTime);
  if (!alive || !vm.ip) {
    throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (state ${vm.state}${vm.stateReason ? `: ${vm.stateReason}` : ''})`, {
      hint: vm.state === 'creating' ? `finish it with banger vm create --name ${name}` : `start it with banger vm start ${name}`,
    });
  }
  const key = await ensureUserKey(userKeyPath(env));
  const args = openSshArgs({
    host: vm.ip,
    keyPath: key.privateKeyPath,
    knownHostsPath: knownHostsPath(env),
    vmName: name,
    ...(options.tty !== undefined ? { tty: options.tty } : {}),
    ...(options.command && options.command.length > 0 ? { command: options.command } : {}),
    extraOptions: ['BatchMode=yes', 'ConnectTimeout=15', 'ServerAliveInterval=15'],
  });
  return { argv: ['ssh', ...args], ip: vm.ip };
}
