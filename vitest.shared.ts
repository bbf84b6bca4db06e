import type { ViteUserConfig } from 'vitest/config';

/**
 * The one vitest setup every project shares: tests run against the TypeScript
 * sources of sibling libs (through the `@banger/source` export condition), so
 * `nx test` never needs a prior build.
 */
export function sharedTestConfig(root: string): ViteUserConfig {
  return {
    root,
    resolve: { conditions: ['@banger/source'] },
    ssr: { resolve: { conditions: ['@banger/source'], externalConditions: ['@banger/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 60_000,
      pool: 'forks',
      passWithNoTests: true,
    },
  };
}
