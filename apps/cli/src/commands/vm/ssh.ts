import { constants } from 'node:os';
import { ExitError, HostCommandError } from '@banger/errors';
import type { CliContext } from '../../context.js';

/**
 * `banger vm ssh NAME [-- cmd…]`: asks the daemon for the connection (it
 * checks the VM runs and builds the OpenSSH command line: banger's key only,
 * banger's pinned known_hosts, strict host-key checking), then runs the
 * system `ssh` on this terminal. The exit status passes through unchanged —
 * including 255, which OpenSSH uses for its own failures (connection
 * refused, host key mismatch) and which a remote command can also return;
 * on 255 banger adds one line saying where to look.
 */
export async function sshCommand(ctx: CliContext, name: string, command: string[]): Promise<void> {
  const { client } = await ctx.daemon();
  const interactive = command.length === 0;
  const stdin = process.stdin as { isTTY?: boolean };
  const { argv } = await client.call(
    'vm.ssh',
    { name, ...(interactive ? {} : { command }), ...(interactive && stdin.isTTY ? { tty: true } : {}) },
    { signal: ctx.signal },
  );
  // The daemon connection is not needed while ssh runs (and must not hold a cancel on Ctrl-C).
  ctx.close();
  // Loaded here, not at the top: `vm list` shares this module's group and never spawns (issue #19).
  const { spawn } = process.getBuiltinModule('node:child_process');
  const status = await new Promise<number>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.once('error', (error) =>
      reject(new HostCommandError('ssh', `cannot run ssh: ${error.message}`, { hint: 'install the OpenSSH client: sudo apt-get install openssh-client', cause: error })),
    );
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
  if (status === 255) ctx.err(`banger: ssh exited with 255 (the connection failed, or the remote command exited 255) (hint: banger vm show ${name}; banger vm logs ${name})`);
  if (status !== 0) throw new ExitError(status);
}
