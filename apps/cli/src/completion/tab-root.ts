import { RootCommand, type Command as TabCommand, type Complete } from '@bomb.sh/tab';
import type { NameKind } from '@banger/api';
import type { CompletionSpec, SpecArgument, SpecOption } from './spec.js';

/** Lists the candidates for one slot: `complete(value, description)` per candidate. */
export type SlotHandler = (complete: Complete) => void;

/**
 * @bomb.sh/tab's completion tree built from a spec, with the same calls its
 * commander adapter makes, except that a slot holding live names gets
 * `namesHandler(kind)`. A fresh RootCommand, not tab's shared instance.
 */
export function tabRootFromSpec(spec: CompletionSpec, namesHandler: (kind: NameKind) => SlotHandler): RootCommand {
  const root = new RootCommand();
  for (const command of spec.commands) {
    const target: TabCommand = command.path === '' ? root : root.command(command.path, command.description);
    for (const option of command.options) addOption(target, option, namesHandler);
    for (const argument of command.arguments) addArgument(target, argument, namesHandler);
  }
  return root;
}

function listing(values: readonly string[]): SlotHandler {
  return (complete) => {
    for (const value of values) complete(value, '');
  };
}

function addOption(target: TabCommand, option: SpecOption, namesHandler: (kind: NameKind) => SlotHandler): void {
  // tab treats an option registered with a handler as taking a value, and one without as a boolean flag.
  const handler = !option.takesValue ? undefined : option.kind ? namesHandler(option.kind) : option.choices ? listing(option.choices) : () => {};
  if (handler) target.option(option.long, option.description, handler, option.short);
  else target.option(option.long, option.description, option.short);
}

function addArgument(target: TabCommand, argument: SpecArgument, namesHandler: (kind: NameKind) => SlotHandler): void {
  const handler = argument.kind ? namesHandler(argument.kind) : argument.choices ? listing(argument.choices) : undefined;
  target.argument(argument.name, handler, argument.variadic);
}
