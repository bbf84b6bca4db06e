import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import { ensureUserKey, openSshArgs, tcpPortOpen } from '@banger/ssh';
import { BOOT_TIMEOUT_KVM_MS, BOOT_TIMEOUT_TCG_MS } from './steps/wait-agent.js';
import { knownHostsPath, userKeyPath, vmRepository, type VmEnv } from './vm-env.js';
import type { VmRecord } from './vm-record.js';
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

/** How often, and how long at most per attempt, the guest's port 22 is tried. */
const SSHD_POLL_MS = 100;
const SSHD_CONNECT_MS = 1_000;

/**
 * Waits until the guest's sshd accepts TCP connections. A `vm run -- cmd`
 * goes through the guest agent, which answers seconds before sshd listens
 * under TCG: a `vm ssh` right after it would meet "connection refused". A
 * booted guest's sshd answers the first probe, so this costs one connect;
 * while the guest boots it waits (the boot timeout at most), and it stops
 * waiting when the VM's process ends.
 */
export async function untilSshdListens(env: VmEnv, name: string, options: { signal?: AbortSignal; port?: number } = {}): Promise<void> {
  const { signal, port = 22 } = options;
  const vm: VmRecord & { ip: string } = runningVm(env, name);
  const limitMs = vm.spec.hypervisor.accel === 'tcg' ? BOOT_TIMEOUT_TCG_MS : BOOT_TIMEOUT_KVM_MS;
  const deadline = Date.now() + limitMs;
  while (!(await tcpPortOpen(vm.ip, port, SSHD_CONNECT_MS, signal))) {
    if (signal?.aborted) return;
    const now = vmRepository(env).findById(vm.id);
    if (!now?.pid || !now.pidStartTime || !processAlive(now.pid, now.pidStartTime)) {
      throw new UserError('VM_NOT_RUNNING', `vm ${vm.name} stopped while banger waited for its sshd`, { hint: `banger vm logs ${vm.name}` });
    }
    if (Date.now() >= deadline) {
      throw new UserError('SSH_WAIT_TIMEOUT', `vm ${vm.name}: its sshd did not accept connections on ${vm.ip}:${port} within ${Math.round(limitMs / 1000)} s`, {
        hint: `banger vm logs ${vm.name}; commands still run through the agent: banger vm exec ${vm.name} -- …`,
      });
    }
    await sleep(SSHD_POLL_MS, undefined, signal ? { signal } : undefined).catch(() => undefined);
  }
}
