import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useHarness } from './harness.js';

const h = useHarness();

/** Every `banger …` command line in the shell blocks of docs/advanced.md (after a pipe too). */
function documentedCommands(): string[][] {
  const doc = readFileSync(join(import.meta.dirname, '../../../docs/advanced.md'), 'utf8');
  const lines = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'));
  return lines
    .map((line) => /(?:^|\|\s*)banger (.*)$/.exec(line.trim())?.[1])
    .filter((rest): rest is string => rest !== undefined)
    .map((rest) => rest.split(' -- ')[0]!.trim().split(/\s+/));
}

describe('docs/advanced.md names only commands and flags that exist', () => {
  const commands = documentedCommands();
  // `--help` output by command path (the CLI starts in ~0.4 s; the examples share paths).
  const helps = new Map<string, Promise<{ exitCode: number; stdout: string }>>();

  it('has examples for create, image pull and register, exec and every session command', () => {
    const paths = new Set(commands.map((words) => words.filter((w) => /^[a-z]+$/.test(w)).slice(0, 3).join(' ')));
    for (const want of ['vm create', 'image pull', 'image register', 'vm exec sandbox', 'vm session start', 'vm session list', 'vm session logs', 'vm session attach', 'vm session send', 'vm session stop', 'vm session rm'])
      expect([...paths].some((p) => p.startsWith(want)), want).toBe(true);
  });

  it.each(commands.map((words) => [words.join(' '), words] as const))('banger %s', async (_, words) => {
    // The command path: the leading words that are subcommands (the first lowercase words; arguments follow).
    const help = async (path: string[]): Promise<{ exitCode: number; stdout: string }> => {
      const key = path.join(' ');
      let known = helps.get(key);
      if (!known) helps.set(key, (known = h.banger([...path, '--help'])));
      return known;
    };
    const path: string[] = [];
    let text = (await help([])).stdout;
    for (const word of words) {
      if (word.startsWith('-')) break;
      const sub = await help([...path, word]);
      if (sub.exitCode !== 0 || sub.stdout === text) break;
      path.push(word);
      text = sub.stdout;
    }
    expect(path.length, `no such command: banger ${words.join(' ')}`).toBeGreaterThan(0);
    for (const flag of words.filter((w) => /^--?[a-z]/.test(w)).map((w) => w.split('=')[0]!)) {
      expect(text, `banger ${path.join(' ')} has no ${flag}`).toMatch(new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, 'm'));
    }
  });
});
