import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { killHard, processAlive, spawnDetached, type DetachedProcess } from '@banger/hypervisor';
import { LeaseStore } from '@banger/network';
import { testEnv } from './__fixtures__/env.js';
import { insertVmRecord, TEST_HYPERVISOR } from './__fixtures__/vm-records.js';
import { reconcileVms } from './reconcile.js';
import { VmRepository } from './vm-record.js';



async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}

describe('noticing dead hypervisors', () => {
  let env: ReturnType<typeof testEnv>;
  const started: DetachedProcess[] = [];
  let logs: string;
  afterEach(async () => {
    for (const p of started.splice(0)) await killHard(p.pid, p.startTime);
    env?.watcher.close();
    env?.cleanup();
    if (logs) rmSync(logs, { recursive: true, force: true });
  });

  const spawnStandIn = async (): Promise<DetachedProcess> => {
    logs = mkdtempSync(join(tmpdir(), 'banger-watch-'));
    // A real detached process standing in for the hypervisor (what the watcher sees is the same: a pid and a start time).
    const proc = await spawnDetached('sleep', ['120'], { stdoutPath: join(logs, 'out'), stderrPath: join(logs, 'out') });
    started.push(proc);
    return proc;
  };

  it('marks a watched VM stopped with the reason when its process is killed', async () => {
    env = testEnv();
    const proc = await spawnStandIn();
    const vm = insertVmRecord(env, 'alpha', { state: 'running', pid: proc.pid, pidStartTime: proc.startTime });
    env.watcher.watch(vm.id, vm.name, TEST_HYPERVISOR, { kind: 'qemu', pid: proc.pid, startTime: proc.startTime, vmDir: logs });
    process.kill(proc.pid, 'SIGKILL');
    const repo = new VmRepository(env.db);
    await until(() => repo.get('alpha').state === 'stopped');
    expect(repo.get('alpha')).toMatchObject({ state: 'stopped', stateReason: 'qemu killed by SIGKILL' });
    expect(repo.get('alpha').pid).toBeUndefined();
  });

  it('keeps a VM handed over for removal (vm run --rm) deleting, hidden from list, when its process ends', async () => {
    env = testEnv();
    const proc = await spawnStandIn();
    const vm = insertVmRecord(env, 'handed', { state: 'running', pid: proc.pid, pidStartTime: proc.startTime });
    env.watcher.watch(vm.id, vm.name, TEST_HYPERVISOR, { kind: 'qemu', pid: proc.pid, startTime: proc.startTime, vmDir: logs });
    const repo = new VmRepository(env.db);
    repo.update(vm.id, { state: 'deleting' });
    process.kill(proc.pid, 'SIGKILL');
    await until(() => repo.findById(vm.id)?.pid === undefined);
    expect(repo.findById(vm.id)?.state).toBe('deleting');
    expect(repo.list().map((v) => v.name)).not.toContain('handed');
  });

  it('records the reason banger gave when it stopped the VM itself', async () => {
    env = testEnv();
    const proc = await spawnStandIn();
    const vm = insertVmRecord(env, 'alpha', { state: 'running', pid: proc.pid, pidStartTime: proc.startTime });
    env.watcher.watch(vm.id, vm.name, TEST_HYPERVISOR, { kind: 'qemu', pid: proc.pid, startTime: proc.startTime, vmDir: logs });
    env.watcher.expectExit(vm.id, 'stopped by banger vm stop');
    process.kill(proc.pid, 'SIGTERM');
    const repo = new VmRepository(env.db);
    await until(() => repo.get('alpha').state === 'stopped');
    expect(repo.get('alpha').stateReason).toBe('stopped by banger vm stop');
  });

  it('at daemon start adopts live VMs, stops dead ones with a reason, keeps interrupted creations, and releases orphaned leases', async () => {
    env = testEnv();
    const proc = await spawnStandIn();
    insertVmRecord(env, 'live', { state: 'running', pid: proc.pid, pidStartTime: proc.startTime });
    // Same pid, other start time: a reused pid must not be adopted.
    insertVmRecord(env, 'reused', { state: 'running', pid: proc.pid, pidStartTime: '1' });
    insertVmRecord(env, 'halfway', { state: 'creating', pid: 999_999, pidStartTime: '5' });
    const leases = new LeaseStore(env.db);
    const live = new VmRepository(env.db).get('live');
    leases.lease('172.16.0.0/24', live.id);
    leases.lease('172.16.0.0/24', 'vm_deleted0000');

    const report = await reconcileVms(env);
    const repo = new VmRepository(env.db);
    expect(report.adopted).toEqual(['live']);
    expect(report.stopped.sort()).toEqual(['halfway', 'reused']);
    expect(report.releasedLeases).toBe(1);
    expect(repo.get('live')).toMatchObject({ state: 'running', pid: proc.pid });
    expect(repo.get('reused')).toMatchObject({ state: 'stopped', stateReason: `qemu process ${proc.pid} ended while bangerd was not running` });
    expect(repo.get('halfway')).toMatchObject({ state: 'creating' });
    expect(leases.leaseOf(live.id)?.ip).toBe('172.16.0.2');
    expect(leases.leaseOf('vm_deleted0000')).toBeUndefined();
    expect(processAlive(proc.pid, proc.startTime)).toBe(true);

    // The adopted VM is watched from now on.
    process.kill(proc.pid, 'SIGKILL');
    await until(() => repo.get('live').state === 'stopped');
  });
});
