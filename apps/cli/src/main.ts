import './env-hygiene.js';
import { ExitCode } from '@banger/errors';
import { runCli } from './run-cli.js';

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
