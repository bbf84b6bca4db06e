import { readdirSync, rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pidExists } from '@banger/host';

/** Temp paths handed out in this process and not yet committed or removed. */
const live = new Set<string>();

const MARK = '.banger-tmp-';

/**
 * The temp files one step attempt created. The engine calls `cleanup()` when
 * the attempt ends, so a failed or cancelled step leaves no partial output.
 */
export class Scratch {
  private readonly paths = new Set<string>();

  /** See `StepContext.tempPath`. */
  tempPath(finalPath: string): string {
    const dir = dirname(finalPath);
    const base = basename(finalPath);
    removeStaleTemps(dir, base);
    const path = join(dir, `.${base}${MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
    this.paths.add(path);
    live.add(path);
    return path;
  }

  /** See `StepContext.commit`. */
  async commit(tempPath: string, finalPath: string): Promise<void> {
    await rename(tempPath, finalPath);
    this.paths.delete(tempPath);
    live.delete(tempPath);
  }

  /** See `StepContext.atomicWrite`. */
  async atomicWrite(finalPath: string, content: string | Uint8Array | ((tempPath: string) => Promise<void>)): Promise<void> {
    const temp = this.tempPath(finalPath);
    try {
      if (typeof content === 'function') await content(temp);
      else await writeFile(temp, content);
      await this.commit(temp, finalPath);
    } catch (error) {
      await this.remove(temp);
      throw error;
    }
  }

  /** Removes every temp path not committed. Never throws: cleanup must not mask the step's own error. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.paths].map((path) => this.remove(path)));
  }

  private async remove(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
    this.paths.delete(path);
    live.delete(path);
  }
}

/**
 * Deletes temp siblings of `<dir>/<base>` left by a killed process: those of a
 * dead pid, or of this process but no longer handed out (a previous daemon
 * with a recycled pid). A live writer's temp file is never touched, so two
 * graphs filling the same cache file at once do not break each other.
 */
function removeStaleTemps(dir: string, base: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const prefix = `.${base}${MARK}`;
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    const pid = Number.parseInt(name.slice(prefix.length), 10);
    const stale = pid === process.pid ? !live.has(path) : !pidExists(pid);
    if (stale) rmSync(path, { recursive: true, force: true });
  }
}
