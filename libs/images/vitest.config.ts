import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

const shared = sharedTestConfig(import.meta.dirname);

// *.slow.test.ts (the golden debian-bookworm build, several minutes) only run
// with BANGER_SLOW_TESTS=1, so the default `nx test` stays quick.
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    exclude: ['**/node_modules/**', '**/dist/**', ...(process.env['BANGER_SLOW_TESTS'] === '1' ? [] : ['**/*.slow.test.ts'])],
  },
});
