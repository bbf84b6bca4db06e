import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate, migrations, openDatabase } from './index.js';

const dirs: string[] = [];
const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-store-'));
  dirs.push(dir);
  return join(dir, 'state', 'banger.db');
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('openDatabase', () => {
  it('creates the database in WAL mode with every table', () => {
    const db = openDatabase(tempDb());
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => (r as { name: string }).name);
    expect(tables).toEqual(expect.arrayContaining(['kernels', 'images', 'vms', 'step_state', 'ip_leases', 'schema_migrations']));
    db.close();
  });

  it('applies each migration once across reopenings', () => {
    const path = tempDb();
    openDatabase(path).close();
    const db = openDatabase(path);
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    expect(versions).toEqual(migrations.map((m) => ({ version: m.version })));
    db.close();
  });

  it('refuses a database written by a newer banger', () => {
    const db = openDatabase(':memory:');
    db.prepare('INSERT INTO schema_migrations VALUES (999, ?, ?)').run('future', Date.now());
    expect(() => migrate(db, migrations)).toThrow(/schema version 999 is newer/);
  });

  it('rolls back a migration that fails halfway', () => {
    const db = openDatabase(':memory:');
    const broken = [...migrations, { version: 99, name: 'broken', up: 'CREATE TABLE half (x); SELECT * FROM missing_table;' }];
    expect(() => migrate(db, broken)).toThrow();
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'half'").get()).toEqual({ n: 0 });
  });
});
