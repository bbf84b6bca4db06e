import { CommanderError } from 'commander';
import { ExitCode, ExitError, formatError, isBangerError } from '@banger/errors';
import { createContext, type CliIo } from './context.js';
import { createProgram } from './program.js';
import type { CommandGroup } from './commands/command-group.js';

/**
 * Runs banger with `argv` (process.argv form) and returns the exit status:
 * (`groups` replaces the command groups; tests use it to add fixtures)
 * 0 ok, 1 usage or user error, 125 banger/daemon failure, 130 cancelled.
 * The one place errors are printed: `banger: <what failed>: <why> (hint: …)`,
 * with stacks and causes only under BANGER_DEBUG=1.
 */
export async function runCli(argv: string[], io: CliIo, signal: AbortSignal, groups?: readonly CommandGroup[]): Promise<number> {
  const ctx = createContext(io, signal);
  try {
    const program = createProgram(ctx, groups);
    // Bare `banger` is a request for help, not a mistake.
    if (argv.length <= 2) program.outputHelp();
    else await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    // Commander already printed its own message (help, version, usage error).
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    if (error instanceof ExitError) return error.exitCode;
    io.stderr.write(`${formatError(error, { debug: io.env['BANGER_DEBUG'] === '1' })}\n`);
    return isBangerError(error) ? error.exitCode : ExitCode.internal;
  } finally {
    ctx.close();
  }
}
