import { Argument, type Command } from 'commander';
import { InternalError } from '@banger/errors';
import type { CliContext } from '../context.js';
import { COMPLETION_RECIPES } from './recipes.js';

const SHELLS = ['zsh', 'bash', 'fish', 'powershell'];

/**
 * Adds `banger completion <shell>` and the hidden `banger complete -- <words>`
 * entry point the generated scripts call. Call it after every command is
 * registered: `complete` reads the whole tree when it runs.
 *
 * The installed launcher answers `complete --` itself from banger-complete.cjs
 * (a spec of this tree made at build time, completion/fast-entry.ts); this
 * action is the same code on the live tree, for any other way of running the
 * CLI. @bomb.sh/tab and the completion code are loaded only by these two
 * commands: every other start skips them (and node:assert, which tab loads).
 */
export function setupCompletion(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('print the shell completion script for bash, zsh, fish or powershell')
    .addArgument(new Argument('<shell>', 'Shell type for completion script').choices(SHELLS))
    .addHelpText('after', COMPLETION_RECIPES)
    .action(async (shell: string) => {
      const { script } = await import('@bomb.sh/tab');
      const { captureConsole } = await import('./complete-words.js');
      ctx.out(completionScript(captureConsole(() => script(shell, 'banger', 'banger')).join('\n'), shell));
    });

  program
    .command('complete', { hidden: true })
    .description('Generate completion suggestions')
    .usage('-- [args...]')
    .argument('[args...]')
    .action(async (words: string[] = []) => {
      const [{ runComplete }, { completionSpec }] = await Promise.all([import('./run-complete.js'), import('./spec.js')]);
      ctx.out(await runComplete(completionSpec(program), words, ctx.env));
    });
}

function completionScript(script: string, shell: string): string {
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
