import { findExecutable } from '../which.js';

export interface Prerequisites {
  /** True when the tests should be skipped: something is missing and we are not in CI. */
  skip: boolean;
  /** What is missing, for the test title; empty when nothing is. */
  missing: string[];
  /** Throws (in CI) naming what is missing; call it in beforeAll. */
  assert: () => void;
}

/**
 * Checks the host tools (and root) a slow test needs. Locally a missing one
 * skips the test with the reason in its title; under CI (`CI=true`) nothing
 * is skipped: the suite fails in `assert()` naming the missing prerequisite,
 * since CI is meant to have installed everything.
 */
export function prerequisites(tools: readonly string[], options: { root?: boolean } = {}): Prerequisites {
  const missing = tools.filter((tool) => !findExecutable(tool));
  if (options.root && process.getuid?.() !== 0) missing.push('root');
  const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';
  return {
    skip: missing.length > 0 && !inCi,
    missing,
    assert: () => {
      if (missing.length > 0) throw new Error(`missing test prerequisites: ${missing.join(', ')} (CI installs them through .ci/run; see the Makefile's package lists)`);
    },
  };
}
