import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { InternalError } from '@banger/errors';
import { migrate } from './migration.js';
import { migrations } from './migrations/index.js';

export type { Database } from 'better-sqlite3';

/**
 * Opens (creating when missing) banger's SQLite database in WAL mode, checks
 * it is intact and migrates it. `:memory:` gives a fresh database for tests.
 * A damaged file is refused with StoreDamagedError instead of being used: a
 * damaged b-tree can make SQLite skip rows, and a daemon that silently forgot
 * a VM would leave its processes, taps and leases behind.
 */
export function openDatabase(path: string): Database.Database {
  if (path !== ':memory:') {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // VM records name keys and paths: the file is the user's alone, like the directory.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    // quick_check reads every page of every b-tree (not the index/row cross-check of integrity_check): milliseconds for banger's few rows.
    const problems = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map((row) => row.quick_check).filter((line) => line !== 'ok');
    if (problems.length > 0) throw new StoreDamagedError(path, problems.join('; '));
  } catch (error) {
    db?.close();
    if (error instanceof StoreDamagedError) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || code.startsWith('SQLITE_CORRUPT')) throw new StoreDamagedError(path, (error as Error).message, error);
    throw error;
  }
  migrate(db, migrations);
  return db;
}

/** banger's database file is damaged; the daemon refuses to start on it. */
export class StoreDamagedError extends InternalError {
  constructor(path: string, why: string, cause?: unknown) {
    super('STORE_DAMAGED', `the state database ${path} is damaged: ${why}`, {
      hint: `stop here and keep a copy; then move it aside (mv ${path} ${path}.damaged) so banger starts with an empty one, and delete leftover VMs by hand, or restore it from a backup`,
      cause,
    });
  }
}
