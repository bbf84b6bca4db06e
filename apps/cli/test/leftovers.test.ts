import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { waitForExit } from '../src/daemon-client/wait-exit.js';
import { readLog, useHarness } from './harness.js';

const h = useHarness();

async function startDaemon(): Promise<number> {
  const r = await h.banger(['daemon', 'status', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const pid = (JSON.parse(r.stdout) as { pid: number }).pid;
  h.track(pid);
  return pid;
}

async function stopDaemon(pid: number): Promise<void> {
  expect((await h.banger(['daemon', 'stop'])).exitCode).toBe(0);
  expect(await waitForExit(pid, 10_000)).toBe(true);
}

/** Writes state as a crash would have left it, with the daemon stopped: SQL on the real database. */
function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(h.home, 'state', 'banger.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const sized = { value: 1, source: 'config', detail: 'x' };
const spec = JSON.stringify({
  image: 'debian-minimal',
  kernel: 'debian-cloud',
  vcpu: sized,
  memoryMib: sized,
  diskBytes: sized,
  hypervisor: { kind: 'qemu', accel: 'tcg', binary: '/usr/bin/qemu-system-x86_64', reason: 'test' },
  fileSync: [],
});

function insertCreatingVm(db: Database.Database, name: string, id: string, updatedAt: number, ip: string): void {
  db.prepare(
    `INSERT INTO vms (id, name, state, state_reason, image_name, kernel_name, hypervisor, vcpu, memory_mib, disk_bytes, ip, spec, created_at, updated_at)
     VALUES (?, ?, 'creating', 'creation cancelled', 'debian-minimal', 'debian-cloud', 'qemu', 1, 512, 1073741824, ?, ?, ?, ?)`,
  ).run(id, name, ip, spec, updatedAt, updatedAt);
  db.prepare('INSERT INTO ip_leases (subnet, ip, owner, leased_at) VALUES (?, ?, ?, ?)').run('172.16.0.0/24', ip, id, updatedAt);
  mkdirSync(join(h.home, 'state', 'vms', name), { recursive: true });
  writeFileSync(join(h.home, 'state', 'vms', name, 'rootfs.ext4'), 'x');
}

describe('leftovers: interrupted creations expire, doctor --fix removes orphans (real daemon, real SQLite)', () => {
  it('deletes at start an interrupted creation older than interrupted_create_expiry, with its lease and directory, and keeps a younger one', async () => {
    mkdirSync(join(h.home, 'config'), { recursive: true });
    writeFileSync(join(h.home, 'config', 'config.toml'), 'interrupted_create_expiry = "10m"\n');
    await stopDaemon(await startDaemon());
    withDb((db) => {
      insertCreatingVm(db, 'stale', 'vm_00000000aaaa', Date.now() - 11 * 60_000, '172.16.0.5');
      insertCreatingVm(db, 'recent', 'vm_00000000bbbb', Date.now() - 60_000, '172.16.0.6');
    });
    await startDaemon();
    for (let i = 0; i < 100 && withDb((db) => db.prepare("SELECT count(*) FROM vms WHERE name = 'stale'").pluck().get()) !== 0; i++) await sleep(100);

    const list = await h.banger(['vm', 'list', '--json']);
    expect((JSON.parse(list.stdout) as Array<{ name: string; state: string }>).map((v) => `${v.name} ${v.state}`)).toEqual(['recent creating']);
    expect(withDb((db) => db.prepare('SELECT ip FROM ip_leases ORDER BY ip').pluck().all())).toEqual(['172.16.0.6']);
    expect(existsSync(join(h.home, 'state', 'vms', 'stale'))).toBe(false);
    expect(existsSync(join(h.home, 'state', 'vms', 'recent', 'rootfs.ext4'))).toBe(true);
    expect(readLog(h)).toMatch(/"deleted":\["stale"\].*"msg":"deleted interrupted creations nobody resumed"/);
  });

  it('banger doctor lists a VM directory without a record and a created VM without its directory; doctor --fix removes both', async () => {
    await stopDaemon(await startDaemon());
    mkdirSync(join(h.home, 'state', 'vms', 'ghost'), { recursive: true });
    writeFileSync(join(h.home, 'state', 'vms', 'ghost', 'work.ext4'), 'x');
    withDb((db) => {
      insertCreatingVm(db, 'lost', 'vm_00000000cccc', Date.now(), '172.16.0.7');
      db.prepare("UPDATE vms SET state = 'stopped' WHERE name = 'lost'").run();
    });
    // Its directory went (by hand, a crash of something else): the record stays, pointing at nothing.
    rmSync(join(h.home, 'state', 'vms', 'lost'), { recursive: true, force: true });
    await startDaemon();

    const report = await h.banger(['doctor', '--json']);
    const orphans = (JSON.parse(report.stdout) as { checks: Array<{ id: string; status: string; detail: string; hint?: string }> }).checks.find((c) => c.id === 'orphans');
    expect(orphans?.status).toBe('warn');
    expect(orphans?.detail).toContain(`${join(h.home, 'state', 'vms', 'ghost')} has no VM record`);
    expect(orphans?.detail).toContain('vm lost (stopped) has no directory');
    expect(orphans?.hint).toBe('banger doctor --fix removes them');

    const fixed = await h.banger(['doctor', '--fix']);
    expect(fixed.stdout).toContain('removed vm-dir ghost');
    expect(fixed.stdout).toContain('removed vm-row lost');
    expect(existsSync(join(h.home, 'state', 'vms', 'ghost'))).toBe(false);
    expect(withDb((db) => db.prepare('SELECT count(*) FROM vms').pluck().get())).toBe(0);
    expect(withDb((db) => db.prepare('SELECT count(*) FROM ip_leases').pluck().get())).toBe(0);

    const again = await h.banger(['doctor', '--json']);
    expect((JSON.parse(again.stdout) as { checks: Array<{ id: string; status: string }> }).checks.find((c) => c.id === 'orphans')?.status).toBe('ok');
  });
});

