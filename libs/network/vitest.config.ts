import { defineConfig } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.js';

const shared = sharedTestConfig(import.meta.dirname);

// host-network.netns.test.ts creates bridges, taps and nftables tables: it is collected only inside
// the throwaway namespace of tools/e2e/netns-run.sh (BANGER_NETNS), where host-network.test.ts runs it;
// outside it would only show up as skipped tests.
export default defineConfig({
  ...shared,
  test: {
    ...shared.test,
    exclude: process.env['BANGER_NETNS'] ? [] : ['src/**/*.netns.test.ts'],
  },
});
