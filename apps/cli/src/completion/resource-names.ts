import { Argument, Option } from 'commander';
import type { NameKind } from '@banger/api';

const argumentKinds = new WeakMap<Argument, NameKind>();
const optionKinds = new WeakMap<Option, NameKind>();

/**
 * A positional argument whose shell completion lists live resource names,
 * e.g. `vm.addArgument(nameArgument('vm', '<name>', 'the VM to stop'))`.
 */
export function nameArgument(kind: NameKind, flags: string, description: string): Argument {
  const argument = new Argument(flags, description);
  argumentKinds.set(argument, kind);
  return argument;
}

/**
 * An option whose value completes to live resource names,
 * e.g. `cmd.addOption(nameOption('image', '--image <name>', 'image to boot'))`.
 */
export function nameOption(kind: NameKind, flags: string, description: string): Option {
  const option = new Option(flags, description);
  optionKinds.set(option, kind);
  return option;
}

export const kindOfArgument = (argument: Argument): NameKind | undefined => argumentKinds.get(argument);
export const kindOfOption = (option: Option): NameKind | undefined => optionKinds.get(option);
