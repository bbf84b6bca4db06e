import type { Database } from 'better-sqlite3';
import { InternalError } from '@banger/errors';

export interface Migration {
  /** Strictly increasing, starting at 1. */
  version: number;
  name: string;
  /** SQL run inside one transaction together with the version bump. */
  up: string;
}

/**
 * Brings the database to the newest schema, one transaction per migration,
 * recording each in `schema_migrations`. A database newer than this build is
 * refused rather than guessed at.
 */
export function migrate(db: Database, list: readonly Migration[]): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const current = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  const newest = list.at(-1)?.version ?? 0;
  if (current > newest) {
    throw new InternalError('DB_TOO_NEW', `database schema version ${current} is newer than this banger (${newest})`, {
      hint: 'upgrade banger, or move the state directory aside',
    });
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of list) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.up);
      record.run(migration.version, migration.name, Date.now());
    })();
  }
  return newest;
}
