import { HostCommandError } from '@banger/errors';
import { run, type RunOptions, type RunResult } from './exec.js';
import { findExecutable } from './which.js';

/** True when this process may do privileged host work without sudo. */
export const isRoot = (): boolean => process.getuid?.() === 0;

/** Whether a command's stderr is sudo refusing to run it (no password-less right), not the command failing. */
export const isSudoRefusal = (stderr: string): boolean => /password is required|a terminal is required|not allowed to/i.test(stderr);

/**
 * The single door for privileged host work (ip, nft, sysctl, mount, chown):
 * runs the command directly as root, and through `sudo -n` otherwise so a
 * missing sudo right fails at once with an error naming the command instead
 * of hanging on a password prompt.
 */
export async function runPrivileged(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (isRoot()) return run(command, args, options);
  const resolved = findExecutable(command);
  if (!resolved) return run(command, args, options); // raises the "command not found" error
  try {
    return await run('sudo', ['-n', '--', resolved, ...args], options);
  } catch (error) {
    if (error instanceof HostCommandError && isSudoRefusal(error.stderr)) {
      throw new HostCommandError(command, `${command} needs root: sudo -n refused to run ${[resolved, ...args].join(' ')}`, {
        hint: `allow passwordless sudo for ${resolved} (see docs/privileges.md), or run bangerd as root`,
        argv: [command, ...args],
        stderr: error.stderr,
        ...(error.exitStatus !== undefined ? { exitStatus: error.exitStatus } : {}),
        cause: error,
      });
    }
    throw error;
  }
}
