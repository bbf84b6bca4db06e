import { BANGER_VERSION, effectiveVersion } from '@banger/api';
import { ExitCode, formatError, isBangerError } from '@banger/errors';
import { Readiness } from './readiness.js';
import { startDaemon } from './start-daemon.js';

const USAGE = `Usage: bangerd [--version] [--help]

The banger daemon. It owns banger's state and VM processes and serves the
banger CLI on a Unix socket. The CLI starts it on demand; run it by hand only
to debug (it stays in the foreground and logs JSON lines to bangerd.log).
`;

async function main(argv: string[]): Promise<number> {
  // `ps` shows bangerd, not node.
  process.title = 'bangerd';
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return ExitCode.ok;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`bangerd ${effectiveVersion()}${effectiveVersion() === BANGER_VERSION ? '' : ' (override)'}\n`);
    return ExitCode.ok;
  }
  if (argv.length > 0) {
    process.stderr.write(`bangerd: unknown argument "${argv[0]}" (hint: bangerd --help)\n`);
    return ExitCode.usage;
  }
  const readiness = new Readiness();
  try {
    const daemon = await startDaemon();
    // Keep no directory busy (a cwd on a mount would block its unmount).
    process.chdir('/');
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => void daemon.stop(signal));
    }
    process.on('uncaughtException', (error) => {
      daemon.ctx.log.fatal({ err: error }, 'uncaught exception');
      void daemon.stop('uncaught exception').finally(() => process.exit(ExitCode.internal));
    });
    readiness.ready(daemon.ctx.paths.socketPath);
    await daemon.stopped;
    return ExitCode.ok;
  } catch (error) {
    readiness.failed(error);
    process.stderr.write(`${formatError(error, { program: 'bangerd', debug: process.env['BANGER_DEBUG'] === '1' })}\n`);
    return isBangerError(error) ? error.exitCode : ExitCode.internal;
  }
}

process.exitCode = await main(process.argv.slice(2));
// Lingering handles (a client that never reads) must not keep a stopped daemon alive.
setTimeout(() => process.exit(), 100).unref();
