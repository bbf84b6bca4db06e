import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../src/version.js';
import { buildAgentBundle } from './agent-process.js';

describe('the banger-vsock-agent command line', () => {
  let dir: string;
  let bundle: string;
  const agent = (...args: string[]) => spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', timeout: 10_000 });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'banger-agent-cli-'));
    bundle = await buildAgentBundle(dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints its version', () => {
    const r = agent('--version');
    expect(r.stdout).toBe(`banger-vsock-agent ${AGENT_VERSION}\n`);
    expect(r.status).toBe(0);
  });

  it('says that it cannot listen on vsock without the relay beside it, and exits 2', () => {
    const r = agent('--vsock-port', '1024');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^banger-vsock-agent: cannot listen on vsock port 1024: no banger-vsock-relay beside the agent/);
  });

  it('refuses to start without exactly one channel, with its usage', () => {
    for (const args of [[], ['--serial', '/dev/x', '--listen-unix', '/tmp/y'], ['--auto', '--vsock-port', '1024'], ['--bogus']]) {
      const r = agent(...args);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('usage: banger-vsock-agent');
    }
  });
});
