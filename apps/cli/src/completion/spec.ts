import type { Command } from 'commander';
import type { NameKind } from '@banger/api';
import { kindOfArgument, kindOfOption } from './resource-names.js';

/**
 * What shell completion needs to know about the command tree, as plain data.
 * The build writes it into banger-complete.cjs (scripts/build.mjs), so a TAB
 * never loads commander, zod or the command modules: the shell calls banger
 * on every TAB and a user feels each millisecond (issue #19: < 150 ms).
 */
export interface CompletionSpec {
  /** The root first (path ''), then every visible command by its space-separated path. */
  commands: SpecCommand[];
}

export interface SpecCommand {
  path: string;
  description: string;
  options: SpecOption[];
  arguments: SpecArgument[];
}

export interface SpecOption {
  /** The long name without its dashes (`follow` for `--follow`). */
  long: string;
  description: string;
  /** The short letter without its dash (`f` for `-f`). */
  short?: string;
  /** `--lines <n>`: the next word is the option's value, not a command or argument. */
  takesValue: boolean;
  choices?: string[];
  /** Live resource names for the value (`--image <name>`). */
  kind?: NameKind;
}

export interface SpecArgument {
  name: string;
  variadic: boolean;
  choices?: string[];
  /** Live resource names (`vm show <name>`). */
  kind?: NameKind;
}

/**
 * The spec of a fully built program (every group registered). Reads the tree
 * the way @bomb.sh/tab's commander adapter does (visible commands and options
 * only, options by their long name), so a spec-built tree answers as tab's own.
 */
export function completionSpec(program: Command): CompletionSpec {
  const commands: SpecCommand[] = [];
  const visit = (command: Command, path: string): void => {
    commands.push({ path, description: path === '' ? '' : command.description(), options: optionsOf(command), arguments: argumentsOf(command) });
    for (const sub of command.createHelp().visibleCommands(command)) visit(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  visit(program, '');
  return { commands };
}

function optionsOf(command: Command): SpecOption[] {
  const options: SpecOption[] = [];
  for (const option of command.createHelp().visibleOptions(command)) {
    const long = option.long?.slice(2);
    if (!long) continue;
    const short = option.short?.slice(1);
    const kind = kindOfOption(option);
    options.push({
      long,
      description: option.description,
      ...(short && !short.startsWith('-') ? { short } : {}),
      takesValue: option.required || option.optional,
      ...(option.argChoices?.length ? { choices: [...option.argChoices] } : {}),
      ...(kind ? { kind } : {}),
    });
  }
  return options;
}

function argumentsOf(command: Command): SpecArgument[] {
  return command.registeredArguments.map((argument) => {
    const kind = kindOfArgument(argument);
    return {
      name: argument.name(),
      variadic: argument.variadic,
      ...(argument.argChoices?.length ? { choices: [...argument.argChoices] } : {}),
      ...(kind ? { kind } : {}),
    };
  });
}
