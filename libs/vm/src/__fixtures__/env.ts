import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type BangerConfig } from '@banger/config';
import { openDatabase } from '@banger/store';
import { directGraphRunner, SqliteStepStateStore } from '@banger/taskgraph';
import type { VmEnv } from '../vm-env.js';
import { VmWatcher } from '../watcher.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A VmEnv over a real (in-memory) SQLite database and a temp state tree. */
export function testEnv(config: Partial<BangerConfig> = {}): VmEnv & { root: string; cleanup(): void } {
  const root = mkdtempSync(join(tmpdir(), 'banger-vm-test-'));
  const db = openDatabase(':memory:');
  return {
    root,
    db,
    paths: {
      vmsDir: join(root, 'state', 'vms'),
      sshDir: join(root, 'config', 'ssh'),
      knownHostsFile: join(root, 'config', 'ssh', 'known_hosts'),
      managedKeyFile: join(root, 'config', 'ssh', 'id_ed25519'),
      kernelsDir: join(root, 'state', 'kernels'),
      imagesDir: join(root, 'state', 'images'),
      cacheDir: join(root, 'cache'),
    },
    config: { ...defaultConfig(), hypervisor: 'qemu', ...config },
    log: silent,
    watcher: new VmWatcher(db, silent),
    runGraph: directGraphRunner(new SqliteStepStateStore(db)),
    cleanup() {
      db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
