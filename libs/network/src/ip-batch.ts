import { HostCommandError, InternalError } from '@banger/errors';
import { isSudoRefusal, runPrivileged } from '@banger/host';

/** What an `ip -batch` line may hold: names, addresses, numbers, `banger:<key>` (nothing the batch parser would split or quote). */
const SAFE_WORD = /^[A-Za-z0-9_.:@/-]+$/;

/**
 * Runs several `ip` commands (each an argv without the leading `ip`) in one
 * privileged process: `ip -batch -`, the commands on stdin. Every privileged
 * process costs a fork+exec (two with sudo), and a VM's network setup is on
 * the way to its boot. ip stops at the first command that fails (the ones
 * before it stay done) and exits non-zero; the error then names that command
 * and ip's reason in one line, not ip's "Command failed -:N" on a second.
 */
export async function runIpBatch(commands: readonly (readonly string[])[]): Promise<void> {
  for (const word of commands.flat()) {
    if (!SAFE_WORD.test(word)) throw new InternalError('NETWORK_BAD_IP_BATCH_WORD', `ip -batch: refusing the word ${JSON.stringify(word)} (not a plain name or address)`);
  }
  const input = commands.map((argv) => argv.join(' ')).join('\n') + '\n';
  try {
    await runPrivileged('ip', ['-batch', '-'], { input });
  } catch (error) {
    if (!(error instanceof HostCommandError)) throw error;
    // ip's report names the failed line; an argument ip cannot parse (e.g. `master <missing bridge>`)
    // makes it exit at once without one, so then the whole batch is named (a single command is that one).
    const report = /^Command failed -:(\d+)$/m.exec(error.stderr);
    const reason = error.stderr
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('Command failed'))
      .join('; ');
    // Not ip's failure (sudo refused, a timeout, a signal): that error already says it in one line.
    if (isSudoRefusal(error.stderr) || error.exitStatus === undefined || error.timedOut || !reason) throw error;
    const command = report ? commands[Number(report[1]) - 1] : commands.length === 1 ? commands[0] : undefined;
    if (!command) {
      throw new HostCommandError('ip', `ip -batch: ${reason} (in: ${commands.map((argv) => argv.join(' ')).join('; ')})`, {
        argv: ['ip', '-batch', '-'],
        stderr: error.stderr,
        exitStatus: error.exitStatus,
        cause: error,
      });
    }
    throw new HostCommandError('ip', `ip ${command.join(' ')}: ${reason}`, { argv: ['ip', ...command], stderr: error.stderr, exitStatus: error.exitStatus, cause: error });
  }
}
