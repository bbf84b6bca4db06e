import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { ApiClient } from '@banger/api';
import type { Service } from '../service.js';
import { startDaemon, type RunningDaemon } from '../start-daemon.js';

/** A daemon a test started, and a client connected to it. */
export interface StartedTestDaemon {
  daemon: RunningDaemon;
  client: ApiClient;
}

/** The throwaway home of one test, and how to start a daemon in it. */
export interface TestDaemonHome {
  /** BANGER_HOME (and HOME) of the current test. */
  readonly dir: string;
  /** Starts bangerd in the home with these services and connects a client; both are stopped after the test. */
  start(services: readonly Service[]): Promise<StartedTestDaemon>;
}

/**
 * Registers beforeEach/afterEach for a daemon test: a fresh temp BANGER_HOME
 * holding `configToml` as config.toml before each test; after it, the
 * client closed, the daemon stopped and the home removed.
 */
export function useTestDaemonHome(prefix: string, configToml: string): TestDaemonHome {
  let dir = '';
  let started: StartedTestDaemon | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(join(dir, 'config'), { recursive: true });
    writeFileSync(join(dir, 'config', 'config.toml'), configToml);
  });
  afterEach(async () => {
    started?.client.close();
    await started?.daemon.stop('test over');
    started = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    async start(services) {
      const daemon = await startDaemon({ env: { HOME: dir, BANGER_HOME: dir }, services: [...services] });
      const client = await ApiClient.connect(daemon.ctx.paths.socketPath);
      started = { daemon, client };
      return started;
    },
  };
}
