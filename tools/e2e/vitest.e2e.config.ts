import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

const shared = sharedTestConfig(import.meta.dirname);

/**
 * Step 2 of `nx test @banger/e2e`: the VM-booting tests, run by
 * ./netns-run.sh inside a throwaway network namespace. Named so @nx/vitest
 * does not infer a plain `vitest run` target that would run them outside it.
 */
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    include: ['src/**/*.e2e.test.ts'],
    // Under TCG on a busy 2-core host a Debian guest takes 15–30 s to ssh.
    testTimeout: 10 * 60_000,
    hookTimeout: 5 * 60_000,
    fileParallelism: false,
  },
});
