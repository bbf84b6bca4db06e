import type { Command } from 'commander';
import tab from '@bomb.sh/tab/commander';
import type { Complete } from '@bomb.sh/tab';
import type { NameKind } from '@banger/api';
import { InternalError } from '@banger/errors';
import type { CliContext } from '../context.js';
import { fetchNames } from './fetch-names.js';
import { COMPLETION_RECIPES } from './recipes.js';
import { kindOfArgument, kindOfOption } from './resource-names.js';

/**
 * Adds `banger completion <shell>` and the hidden `banger complete -- <words>`
 * entry point the generated scripts call. Call it after every command is
 * registered: @bomb.sh/tab copies the command tree when it is set up.
 *
 * Live names: tab's handlers are synchronous, so completion runs twice. The
 * first (silent) pass records which kinds of names the cursor position wants;
 * only those are fetched from a daemon that already runs (short timeout, never
 * starting one); the second pass prints the candidates.
 */
export function setupCompletion(program: Command, ctx: CliContext): void {
  const root = tab(program, { completionCommandName: 'completion' });
  const wanted = new Set<NameKind>();
  let names = new Map<NameKind, string[]>();
  const handlerFor = (kind: NameKind) =>
    function (complete: Complete): void {
      wanted.add(kind);
      for (const name of names.get(kind) ?? []) complete(name, kind);
    };

  walk(program, '', (command, path) => {
    const target = path === '' ? root : root.commands.get(path);
    if (!target) return;
    for (const argument of command.registeredArguments) {
      const kind = kindOfArgument(argument);
      const slot = target.arguments.get(argument.name());
      if (kind && slot) slot.handler = handlerFor(kind);
    }
    for (const option of command.options) {
      const kind = kindOfOption(option);
      const slot = option.long ? target.options.get(option.long.replace(/^--/, '')) : undefined;
      if (kind && slot) slot.handler = handlerFor(kind);
    }
  });

  const completion = program.commands.find((c) => c.name() === 'completion');
  completion
    ?.description('print the shell completion script for bash, zsh, fish or powershell')
    .addHelpText('after', COMPLETION_RECIPES)
    .action((shell: string) => ctx.out(completionScript(() => root.setup('banger', 'banger', shell), shell)));

  program.commands
    .find((c) => c.name() === 'complete')
    ?.action(async (words: string[] = []) => {
      wanted.clear();
      names = new Map();
      captureConsole(() => root.parse([...words]));
      if (wanted.size > 0) names = await fetchNames(ctx, [...wanted], sessionScope(words));
      const lines = captureConsole(() => root.parse([...words]));
      ctx.out(lines.join('\n'));
    });
}

/**
 * The VM a session name is completed for: in `vm session <sub> <vm> <TAB>`,
 * the first word after the subcommand that is not an option (tab's handlers
 * do not see the earlier arguments).
 */
export function sessionScope(words: readonly string[]): { vm?: string } {
  const at = words.indexOf('session');
  if (at < 0 || words[at - 1] !== 'vm') return {};
  const vm = words.slice(at + 2, -1).find((w) => !w.startsWith('-'));
  return vm === undefined ? {} : { vm };
}

/** Visits every visible command with its space-separated path ('' for the root). */
function walk(command: Command, path: string, visit: (command: Command, path: string) => void): void {
  visit(command, path);
  for (const sub of command.commands) walk(sub, path ? `${path} ${sub.name()}` : sub.name(), visit);
}

/** Runs `fn` with console.log captured (tab prints its output through it). */
function captureConsole(fn: () => void): string[] {
  const original = console.log;
  const lines: string[] = [];
  console.log = (...parts: unknown[]) => void lines.push(parts.map(String).join(' '));
  try {
    fn();
  } finally {
    console.log = original;
  }
  return lines;
}

function completionScript(generate: () => void, shell: string): string {
  const script = captureConsole(generate).join('\n');
  return shell === 'bash' ? saferBashScript(script) : script;
}

/** The words-to-request part of tab's bash script: it `eval`s the typed words, so TAB on `$(cmd)` ran cmd. */
const BASH_EVAL_REQUEST = /^( *)# Build the command to get completions\n *requestComp="([^"]*) complete -- \$\{words\[@\]:1\}"\n[\s\S]*?out=\$\(eval "\$requestComp" 2>\/dev\/null\)$/m;
const BASH_WORDS = /^( *)_get_comp_words_by_ref -n "=:" cur prev words cword$/m;

/**
 * tab's bash script, made safe and self-sufficient: the typed words reach
 * `banger complete` as arguments (never through `eval`), and without the
 * bash-completion package it reads COMP_WORDS itself instead of failing with
 * "_get_comp_words_by_ref: command not found" on every TAB. Its constants are
 * no longer readonly, which broke re-sourcing ~/.bashrc. A tab upgrade that
 * changes these lines fails loudly here rather than shipping the eval.
 */
export function saferBashScript(script: string): string {
  const request = BASH_EVAL_REQUEST.exec(script);
  const words = BASH_WORDS.exec(script);
  if (!request || !words) throw new InternalError('COMPLETION_SCRIPT_CHANGED', 'the bash completion script of @bomb.sh/tab changed shape: review saferBashScript before shipping it');
  const [, indent = '', program = 'banger'] = request;
  const wi = words[1] ?? '';
  return script
    .replace(/^readonly (ShellCompDirective\w+=)/gm, '$1')
    .replace(
      BASH_WORDS,
      [
        `${wi}if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then`,
        `${wi}    _get_comp_words_by_ref -n "=:" cur prev words cword`,
        `${wi}else`,
        `${wi}    words=("\${COMP_WORDS[@]}"); cword=$COMP_CWORD; cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"`,
        `${wi}fi`,
      ].join('\n'),
    )
    .replace(
      BASH_EVAL_REQUEST,
      [
        `${indent}# The words before the cursor, then the word being completed (possibly empty), as arguments: never eval-ed.`,
        `${indent}local -a requestArgs=("\${words[@]:1:cword-1}" "$cur")`,
        `${indent}out=$(${program} complete -- "\${requestArgs[@]}" 2>/dev/null)`,
      ].join('\n'),
    );
}
