import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

const shared = sharedTestConfig(import.meta.dirname);

// tap-ownership.netns.test.ts creates a bridge and taps: it is collected only inside the throwaway
// namespace of tools/e2e/netns-run.sh (BANGER_NETNS), where tap-ownership.test.ts runs it; outside
// it would only show up as four skipped tests.
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    exclude: process.env['BANGER_NETNS'] ? [] : ['src/**/*.netns.test.ts'],
  },
});
