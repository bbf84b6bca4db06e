import { ensureUserKey, openSshArgs } from '@banger/ssh';
import { knownHostsPath, userKeyPath, type VmEnv } from './vm-env.js';
import { runningVm } from './vm-ssh-target.js';

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
  const vm = runningVm(env, name);
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
