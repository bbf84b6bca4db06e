import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InternalError } from '@banger/errors';
import { pidExists } from '@banger/host';

/**
 * Holds an exclusive lock (a directory made with mkdir, which is atomic)
 * while `fn` runs, so two processes never build the same thing at once. A
 * lock whose owner pid is dead is taken over.
 */
export async function withDirLock<T>(lockDir: string, fn: () => Promise<T>, options: { timeoutMs?: number; onWait?: (pid: number) => void } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
  let warned = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && !pidExists(owner)) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new InternalError('LOCK_TIMEOUT', `lock ${lockDir}: still held by pid ${owner || '?'}`, { hint: `wait for it, or remove ${lockDir} if no such process runs` });
    }
    if (!warned && owner) options.onWait?.(owner);
    warned = true;
    await sleep(1000);
  }
  await writeFile(join(lockDir, 'pid'), String(process.pid));
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

