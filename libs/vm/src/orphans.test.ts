import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { killHard, processAlive, spawnDetached, type DetachedProcess } from '@banger/hypervisor';
import { LeaseStore } from '@banger/network';
import { testEnv } from './__fixtures__/env.js';
import { insertVmRecord } from './__fixtures__/vm-records.js';
import { expireInterruptedCreations } from './expire-interrupted.js';
import { findOrphans, removeOrphans } from './orphans.js';
import { VmRepository } from './vm-record.js';

const SUBNET = '172.16.0.0/24';


describe('interrupted creations nobody resumes', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  it('deletes a creating VM untouched for longer than the expiry, with its lease and directory, and keeps the rest', async () => {
    env = testEnv();
    const leases = new LeaseStore(env.db);
    const old = insertVmRecord(env, 'old');
    const fresh = insertVmRecord(env, 'fresh');
    const done = insertVmRecord(env, 'done', { state: 'stopped' });
    for (const vm of [old, fresh, done]) {
      leases.lease(SUBNET, vm.id);
      mkdirSync(join(env.paths.vmsDir, vm.name, 'x'), { recursive: true });
    }
    // "fresh" was touched a minute later than "old" (a cancelled run records its reason).
    env.db.prepare('UPDATE vms SET updated_at = updated_at + 60000 WHERE name = ?').run('fresh');
    const expiryMs = 10 * 60_000;
    const deleted = await expireInterruptedCreations(env, { expiryMs, now: old.updatedAt + expiryMs + 30_000 });

    expect(deleted).toEqual(['old']);
    const names = new VmRepository(env.db).list().map((vm) => vm.name).sort();
    expect(names).toEqual(['done', 'fresh']);
    expect(leases.leaseOf(old.id)).toBeUndefined();
    expect(leases.leaseOf(fresh.id)).toBeDefined();
    expect(existsSync(join(env.paths.vmsDir, 'old'))).toBe(false);
    expect(existsSync(join(env.paths.vmsDir, 'fresh', 'x'))).toBe(true);
  });

  it('uses interrupted_create_expiry from the config, and keeps everything younger than it', async () => {
    env = testEnv({ interruptedCreateExpiryMs: 2 * 3_600_000 });
    const vm = insertVmRecord(env, 'pending');
    expect(await expireInterruptedCreations(env, { now: vm.updatedAt + 3_600_000 })).toEqual([]);
    expect(await expireInterruptedCreations(env, { now: vm.updatedAt + 2 * 3_600_000 + 1 })).toEqual(['pending']);
  });
});

describe('leftovers: doctor lists them, doctor --fix removes them', () => {
  let env: ReturnType<typeof testEnv>;
  let bin: string;
  const started: DetachedProcess[] = [];
  afterEach(async () => {
    for (const p of started.splice(0)) await killHard(p.pid, p.startTime);
    env?.cleanup();
    if (bin) rmSync(bin, { recursive: true, force: true });
  });

  it('finds a VM dir without a record, a record without a dir, a stale lease, a stray hypervisor and an unused runtime disk, and removes them all', async () => {
    env = testEnv();
    const vmsDir = env.paths.vmsDir;
    mkdirSync(join(vmsDir, 'ghost'), { recursive: true });
    writeFileSync(join(vmsDir, 'ghost', 'rootfs.ext4'), 'x');
    const kept = insertVmRecord(env, 'kept', { state: 'stopped' });
    mkdirSync(join(vmsDir, 'kept'), { recursive: true });
    insertVmRecord(env, 'lost', { state: 'stopped' });
    new LeaseStore(env.db).lease(SUBNET, 'vm_0000deadbeef');
    new LeaseStore(env.db).lease(SUBNET, kept.id);

    // A real process whose program is called qemu-system-x86_64 and whose arguments point into the VMs dir.
    bin = mkdtempSync(join(tmpdir(), 'banger-orphan-bin-'));
    symlinkSync('/bin/sh', join(bin, 'qemu-system-x86_64'));
    const stray = await spawnDetached(join(bin, 'qemu-system-x86_64'), ['-c', 'sleep 120; true', `${vmsDir}/ghost/rootfs.ext4`], {
      stdoutPath: join(bin, 'out'),
      stderrPath: join(bin, 'out'),
    });
    started.push(stray);

    const runtimeDir = join(env.root, 'state', 'runtime');
    mkdirSync(runtimeDir, { recursive: true });
    writeFileSync(join(runtimeDir, 'aaaa.ext4'), 'old');
    writeFileSync(join(runtimeDir, 'bbbb.ext4'), 'new');
    utimesSync(join(runtimeDir, 'aaaa.ext4'), new Date(2020, 0, 1), new Date(2020, 0, 1));

    const found = await findOrphans(env, { runtimeDir });
    const summary = found.map((o) => `${o.kind} ${o.name}`).sort();
    expect(summary).toEqual(
      [`hypervisor ${stray.pid}`, 'lease 172.16.0.2', `runtime-disk ${join(runtimeDir, 'aaaa.ext4')}`, 'vm-dir ghost', 'vm-row lost'].sort(),
    );
    expect(found.find((o) => o.kind === 'lease')?.detail).toMatch(/vm_0000deadbeef, which is no VM/);

    const removed = await removeOrphans(env, found);
    expect(removed.filter((l) => l.startsWith('could not')), removed.join('\n')).toEqual([]);
    for (let i = 0; i < 50 && processAlive(stray.pid, stray.startTime); i++) await sleep(50);
    expect(processAlive(stray.pid, stray.startTime)).toBe(false);
    expect(existsSync(join(vmsDir, 'ghost'))).toBe(false);
    expect(existsSync(join(runtimeDir, 'aaaa.ext4'))).toBe(false);
    expect(existsSync(join(runtimeDir, 'bbbb.ext4'))).toBe(true);
    expect(new VmRepository(env.db).list().map((vm) => vm.name)).toEqual(['kept']);
    expect(new LeaseStore(env.db).leaseOf(kept.id)).toBeDefined();
    expect(await findOrphans(env, { runtimeDir })).toEqual([]);
  });
});
