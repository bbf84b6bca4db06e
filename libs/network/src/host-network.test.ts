import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '@banger/host';

const netnsRun = resolve(import.meta.dirname, '../../../tools/e2e/netns-run.sh');
const canRun = isRoot() || spawnSync('sudo', ['-n', 'true']).status === 0;
const inCi = process.env['CI'] === 'true' || process.env['CI'] === '1';

// Runs host-network.netns.test.ts inside a fresh network namespace, so no
// bridge, tap or nftables table ever touches the host's own network.
// Locally, without root or sudo it is skipped; under CI (root) nothing is: a missing prerequisite fails.
describe.skipIf(process.env['BANGER_NETNS'] || (!inCi && (!canRun || !existsSync(netnsRun))))(
  'host networking (needs root or sudo -n to create a netns)',
  () => {
    it('passes its bridge, tap, NAT and forwarding tests inside a throwaway netns', () => {
      if (!canRun) throw new Error('host networking tests need root or sudo -n (CI runs as root)');
      if (!existsSync(netnsRun)) throw new Error(`${netnsRun} is missing`);
      const result = spawnSync(netnsRun, ['npx', 'vitest', 'run', 'src/host-network.netns.test.ts'], {
        cwd: resolve(import.meta.dirname, '..'),
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
        timeout: 120_000,
      });
      const output = `${result.stdout}\n${result.stderr}`;
      expect(output, output).toMatch(/Tests\s+20 passed \(20\)/);
      expect(result.status, output).toBe(0);
    }, 130_000);
  },
);
