import type { UserConfig } from 'vitest/config';
/**
 * The one vitest setup every project shares: tests run against the TypeScript
 * sources of sibling libs (through the `@banger/source` export condition), so
 * `nx test` never needs a prior build.
 */
export declare function sharedTestConfig(root: string): UserConfig;
//# sourceMappingURL=vitest.shared.d.ts.map