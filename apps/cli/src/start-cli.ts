import { ExitCode } from '@banger/errors';
import { runCli } from './run-cli.js';

/**
 * The process side of a CLI run: Ctrl-C / SIGTERM cancel the command, and
 * the process exits with its status once stdout is flushed. Shared by the
 * ESM entry (main.ts) and the code-cached body (cli-body.ts).
 */
export async function startCli(): Promise<void> {
  const controller = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(ExitCode.cancelled);
      controller.abort();
      // Commands that do not watch the signal still end promptly.
      setTimeout(() => process.exit(ExitCode.cancelled), 1_500).unref();
    });
  }

  const status = await runCli(process.argv, { stdout: process.stdout, stderr: process.stderr, env: process.env }, controller.signal);
  // Flush stdout (a pipe may still hold output) before exiting with the status.
  process.stdout.write('', () => process.exit(status));
}
