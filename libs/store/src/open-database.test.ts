import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError } from '@banger/errors';
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

  it('keeps the file private to its owner', () => {
    const path = tempDb();
    openDatabase(path).close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses a file whose header is garbage, naming it, instead of starting on it', () => {
    const path = tempDb();
    openDatabase(path).close();
    overwrite(path, 0, Buffer.from('not a database at all, sorry'.repeat(4)));
    const error = catchError(() => openDatabase(path));
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ code: 'STORE_DAMAGED', exitCode: 125 });
    expect(error.message).toBe(`the state database ${path} is damaged: file is not a database`);
    expect(error.hint).toContain(`mv ${path} ${path}.damaged`);
  });

  it('refuses a file with a damaged table page instead of silently losing its rows', () => {
    const path = tempDb();
    const db = openDatabase(path);
    const insert = db.prepare(
      `INSERT INTO vms (id, name, state, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, spec, created_at, updated_at)
       VALUES (?, ?, 'running', 'debian-bookworm', 'k', 'qemu', 1, 512, 1, ?, 0, 0)`,
    );
    for (let i = 0; i < 400; i++) insert.run(String(i), `vm-${i}`, JSON.stringify({ padding: 'x'.repeat(200) }));
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    // A leaf page of the vms table, found through SQLite's own page map.
    const page = (db.prepare("SELECT pageno FROM dbstat WHERE name = 'vms' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 3").get() as { pageno: number }).pageno;
    db.close();
    overwrite(path, (page - 1) * pageSize, Buffer.alloc(pageSize, 0xa5));
    const error = catchError(() => openDatabase(path));
    expect(error).toMatchObject({ code: 'STORE_DAMAGED' });
    expect(error.message).toMatch(new RegExp(`^the state database ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is damaged: `));
    // The damaged file is left as it was, for the user to keep or restore.
    expect(readFileSync(path).subarray((page - 1) * pageSize, page * pageSize).every((b) => b === 0xa5)).toBe(true);
  });
});

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function catchError(fn: () => unknown): InternalError {
  try {
    fn();
  } catch (error) {
    return error as InternalError;
  }
  throw new Error('expected openDatabase to throw');
}
