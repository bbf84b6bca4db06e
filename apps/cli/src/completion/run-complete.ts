import { effectiveVersion } from '@banger/api';
import { resolvePaths } from '@banger/config';
import { completeWords } from './complete-words.js';
import { fetchLiveNames } from './live-names.js';
import type { CompletionSpec } from './spec.js';

/**
 * `banger complete -- <words>`: the candidates for the last word, with live
 * names from the running daemon. The same code runs in the full CLI and in
 * banger-complete.cjs, the launcher's fast path (completion/fast-entry.ts).
 */
export function runComplete(spec: CompletionSpec, words: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  return completeWords(spec, words, async (kinds, scope) => {
    let paths;
    try {
      paths = resolvePaths(env); // a bad BANGER_HOME: no names, and no error on the user's prompt
    } catch {
      return new Map();
    }
    const budgetMs = Number(env['BANGER_COMPLETE_TIMEOUT_MS'] ?? '') || 1_000;
    return fetchLiveNames({ socketPath: paths.socketPath, runtimeDir: paths.runtimeDir, version: effectiveVersion(env), budgetMs }, kinds, scope);
  });
}
