import { Command } from 'commander';
import type { CliContext } from './context.js';
import { commandGroups } from './commands/index.js';
import type { CommandGroup } from './commands/command-group.js';
import { setupCompletion } from './completion/setup-completion.js';

/**
 * Builds the `banger` command tree. Commander never exits the process itself:
 * usage errors become CommanderError (exit 1) and are printed in banger's
 * one-line error format by the top-level handler's output hook.
 */
export function createProgram(ctx: CliContext, groups: readonly CommandGroup[] = commandGroups): Command {
  const program = new Command('banger')
    .description('One-command development sandboxes on Firecracker microVMs.')
    .version(ctx.version, '-V, --version', 'print the banger version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    // Options belong to the command they follow, so `vm run … -- cmd --flag`
    // can pass the user's flags through (passThroughOptions needs this on
    // every ancestor; subcommands made with .command() inherit it).
    .enablePositionalOptions();
  for (const group of groups) group(program, ctx);
  setupCompletion(program, ctx);
  configureAll(program, ctx, 'banger');
  return program;
}

function configureAll(command: Command, ctx: CliContext, path: string): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: (text) => void ctx.io.stdout.write(text),
    writeErr: (text) => void ctx.io.stderr.write(text),
    outputError: (text, write) => {
      const why = text.replace(/^error: /, '').replace(/\s*\(Did you mean (.*)\?\)/, ', did you mean $1?').trim().replace(/\n+/g, '; ');
      write(`banger: ${why} (hint: see ${path} --help)\n`);
    },
  });
  for (const sub of command.commands) configureAll(sub, ctx, `${path} ${sub.name()}`);
}
