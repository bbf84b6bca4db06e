import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError, HostCommandError } from '@banger/errors';
import { QmpClient, withQmp } from './qmp.js';

/**
 * A VM's whole state (RAM and devices) in one file, written and read by
 * QEMU's migration over `exec:` (QEMU 7.2, Debian 12's, has no `file:`
 * migration URI). The path goes through `sh -c`, so it is single-quoted.
 */
const shellQuote = (path: string): string => `'${path.replaceAll("'", "'\\''")}'`;

interface MigrationInfo {
  status?: string;
  'error-desc'?: string;
  ram?: { transferred?: number; total?: number };
}

/** Polls `query-migrate` until the migration completed or failed; throws on failure, timeout or cancel. */
async function awaitMigration(qmp: QmpClient, what: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<MigrationInfo> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError(`${what}: cancelled`);
    const info = (await qmp.execute('query-migrate')) as MigrationInfo;
    if (info.status === 'completed') return info;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new HostCommandError('qemu-system-x86_64', `${what} failed: ${info['error-desc'] ?? info.status}`);
    }
    if (Date.now() > deadline) throw new HostCommandError('qemu-system-x86_64', `${what} did not finish within ${Math.round(options.timeoutMs / 1000)} s (migration ${info.status ?? 'not started'})`);
    await sleep(100);
  }
}

/** How long saving or loading a state file may take: generous for TCG on a loaded host (≈ 1 min per GiB, at least 2 min). */
const stateTimeoutMs = (memoryMib: number): number => Math.max(120_000, Math.ceil(memoryMib / 1024) * 60_000);

/**
 * Pauses the vCPUs and writes the VM's state to `stateFile`. On failure the
 * VM is let run again, so a failed suspend never leaves a frozen guest.
 * QEMU is still running afterwards: the caller ends it.
 */
export async function saveStateToFile(qmpPath: string, stateFile: string, options: { signal?: AbortSignal }): Promise<void> {
  await withQmp(qmpPath, 5_000, async (qmp) => {
    const size = (await qmp.execute('query-memory-size-summary')) as { 'base-memory'?: number };
    const timeoutMs = stateTimeoutMs(size['base-memory'] ? size['base-memory'] / 2 ** 20 : 4096);
    await qmp.execute('stop');
    try {
      await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(stateFile)}` });
      await awaitMigration(qmp, 'saving the VM state', { timeoutMs, ...options });
    } catch (error) {
      await qmp.execute('migrate_cancel').catch(() => undefined);
      await qmp.execute('cont').catch(() => undefined);
      throw error;
    }
  });
}

/**
 * Loads `stateFile` into a QEMU started with `-incoming defer` and lets the
 * vCPUs run. QEMU checks the file against its own devices and refuses a state
 * from another configuration; that failure is thrown (the caller kills it).
 */
export async function loadStateFromFile(qmpPath: string, stateFile: string, options: { memoryMib: number; signal?: AbortSignal }): Promise<void> {
  const deadline = Date.now() + 30_000;
  let qmp: QmpClient | undefined;
  while (!qmp) {
    try {
      qmp = await QmpClient.connect(qmpPath, 2_000);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      if (options.signal?.aborted) throw new CancelledError('restoring the VM state: cancelled');
      await sleep(100);
    }
  }
  try {
    await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(stateFile)}` });
    await awaitMigration(qmp, 'restoring the VM state', { timeoutMs: stateTimeoutMs(options.memoryMib), ...(options.signal ? { signal: options.signal } : {}) });
    // The source was stopped before it was saved, so the restored VM starts paused.
    await qmp.execute('cont');
  } finally {
    qmp.close();
  }
}
