import type { NameKind } from '@banger/api';
import type { CompletionSpec } from './spec.js';
import { tabRootFromSpec } from './tab-root.js';

/** Fetches the live names of the wanted kinds (for `session`: of `scope.vm`); never throws. */
export type NamesSource = (kinds: NameKind[], scope: { vm?: string }) => Promise<Map<NameKind, string[]>>;

/**
 * The output of `banger complete -- <words>` (candidates, one per line, then
 * tab's `:<directive>` line). tab's handlers are synchronous, so completion
 * runs twice: the first (silent) pass records which kinds of names the cursor
 * position wants; only those are fetched; the second pass prints.
 */
export async function completeWords(spec: CompletionSpec, words: readonly string[], names: NamesSource): Promise<string> {
  const wanted = new Set<NameKind>();
  let fetched = new Map<NameKind, string[]>();
  const root = tabRootFromSpec(spec, (kind) => (complete) => {
    wanted.add(kind);
    for (const name of fetched.get(kind) ?? []) complete(name, kind);
  });
  captureConsole(() => root.parse([...words]));
  if (wanted.size > 0) fetched = await names([...wanted], sessionScope(words));
  return captureConsole(() => root.parse([...words])).join('\n');
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

/** Runs `fn` with console.log captured (tab prints its output through it). */
export function captureConsole(fn: () => void): string[] {
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
