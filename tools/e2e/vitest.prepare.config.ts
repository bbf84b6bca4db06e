import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

const shared = sharedTestConfig(import.meta.dirname);

/**
 * Step 1 of `nx test @banger/e2e`, in the host's namespace (it downloads):
 * builds or reuses the kernel bundle and the test image in the test cache.
 */
export default defineConfig({
  ...shared,
  test: { ...shared.test, include: ['src/prepare-artifacts.test.ts'], testTimeout: 20 * 60_000, hookTimeout: 20 * 60_000 },
});
