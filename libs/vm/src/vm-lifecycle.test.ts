import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InternalError, UserError } from '@banger/errors';
import { findExecutable } from '@banger/host';
import { LeaseStore } from '@banger/network';
import { MemoryStepStateStore, plan, summarizePlan } from '@banger/taskgraph';
import { testEnv } from './__fixtures__/env.js';
import type { VmGraphRunner, VmProgressEvent } from './graph-runner.js';
import { backgroundRemovalsEnded, createVm, deleteVm, deleteVmInBackground, removeVm } from './vm-lifecycle.js';
import { nameFreed } from './removal-turn.js';
import { reconcileVms } from './reconcile.js';
import { VM_CREATE_STEP_IDS } from './vm-graph.js';
import { VmRepository, type VmRecord } from './vm-record.js';
import { insertVmRecord } from './__fixtures__/vm-records.js';

function registerImage(env: ReturnType<typeof testEnv>): void {
  const dir = join(env.paths.imagesDir, 'debian-minimal');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'rootfs.ext4'), '');
  env.db
    .prepare('INSERT INTO images (name, version, dir, rootfs_path, size_bytes, sha256, kernel_name, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run('debian-minimal', 'v1', dir, join(dir, 'rootfs.ext4'), 2 ** 20, 'a'.repeat(64), 'debian-cloud', '{}', Date.now());
}

/** A runner standing in for the daemon's: the VM dir and a lease appear as if the graph had started, then it fails. */
const failingRunner = (env: ReturnType<typeof testEnv>, error: Error): VmGraphRunner => async ({ graphId }) => {
  const vm = new VmRepository(env.db).get(graphId.slice(3));
  mkdirSync(join(env.paths.vmsDir, vm.name), { recursive: true });
  new LeaseStore(env.db).lease('172.16.0.0/24', vm.id);
  throw error;
};

describe.skipIf(!findExecutable('qemu-system-x86_64'))('createVm', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());
  const events: VmProgressEvent[] = [];
  const io = (runGraph: VmGraphRunner) => ({ signal: new AbortController().signal, emit: (e: VmProgressEvent) => events.push(e), runGraph });

  it('explains a new VM without writing anything: every step never ran', async () => {
    env = testEnv();
    registerImage(env);
    const store = new MemoryStepStateStore();
    const runner: VmGraphRunner = async ({ graphId, steps, signal }) => ({ explained: true, plan: summarizePlan(await plan(steps, { graphId, store, signal })) });
    const result = await createVm(env, { name: 'sandbox', image: 'debian-minimal', explain: true, cold: true }, io(runner));
    expect(result.plan?.graphId).toBe('vm:sandbox');
    expect(result.plan?.steps.map((s) => s.id).sort()).toEqual([...VM_CREATE_STEP_IDS].sort());
    expect(result.plan?.steps.every((s) => s.action === 'run' && s.reason === 'never ran')).toBe(true);
    expect(new VmRepository(env.db).list()).toEqual([]);
  });

  it('plans a warm VM by default under QEMU (the template step), and a cold one with warm_start = false', async () => {
    env = testEnv({ hypervisor: 'qemu' });
    registerImage(env);
    const store = new MemoryStepStateStore();
    const runner: VmGraphRunner = async ({ graphId, steps, signal }) => ({ explained: true, plan: summarizePlan(await plan(steps, { graphId, store, signal })) });
    const warm = await createVm(env, { name: 'sandbox', image: 'debian-minimal', explain: true }, io(runner));
    expect(warm.plan?.steps.map((s) => s.id).sort()).toEqual([...VM_CREATE_STEP_IDS, 'vm.warm-template'].sort());
    env.cleanup(); // afterEach cleans only the last one
    env = testEnv({ hypervisor: 'qemu', warmStart: false });
    registerImage(env);
    const cold = await createVm(env, { name: 'sandbox', image: 'debian-minimal', explain: true }, io(runner));
    expect(cold.plan?.steps.map((s) => s.id).sort()).toEqual([...VM_CREATE_STEP_IDS].sort());
  });

  it('prints the spec line before the graph runs', async () => {
    env = testEnv({ vmDefaults: { vcpu: 2, memoryMib: 1024, diskSize: '4G' } });
    registerImage(env);
    events.length = 0;
    let seenBeforeRun: VmProgressEvent[] = [];
    const runner: VmGraphRunner = async () => {
      seenBeforeRun = [...events];
      return { explained: false, result: { graphId: 'vm:sandbox', ok: true, cancelled: false, durationMs: 1, steps: {}, outputs: {} } };
    };
    await createVm(env, { name: 'sandbox', image: 'debian-minimal' }, io(runner));
    expect(seenBeforeRun[0]).toMatchObject({ type: 'vm-notice', graphId: 'vm:sandbox', line: 'spec: 2 vCPU (config), 1024 MiB RAM (config), 4 GiB disk (config)' });
    expect(new VmRepository(env.db).get('sandbox').state).toBe('running');
  });

  it('rolls a new VM back completely when its creation fails on bad input', async () => {
    env = testEnv();
    registerImage(env);
    const error = new UserError('VM_DISK_TOO_SMALL', 'disk too small');
    await expect(createVm(env, { name: 'sandbox', image: 'debian-minimal' }, io(failingRunner(env, error)))).rejects.toBe(error);
    expect(new VmRepository(env.db).list()).toEqual([]);
    expect(existsSync(join(env.paths.vmsDir, 'sandbox'))).toBe(false);
    expect(new LeaseStore(env.db).leases('172.16.0.0/24')).toEqual([]);
  });

  it('keeps a VM whose creation failed for another reason, so the next create resumes it', async () => {
    env = testEnv();
    registerImage(env);
    const error = new InternalError('SSH_WAIT_TIMEOUT', 'ssh not ready');
    await expect(createVm(env, { name: 'sandbox', image: 'debian-minimal' }, io(failingRunner(env, error)))).rejects.toBe(error);
    expect(new VmRepository(env.db).get('sandbox')).toMatchObject({ state: 'creating', stateReason: 'creation failed: ssh not ready' });
    expect(existsSync(join(env.paths.vmsDir, 'sandbox'))).toBe(true);
  });
});


function insertStoppedVm(env: ReturnType<typeof testEnv>, name: string): VmRecord {
  const vm = insertVmRecord(env, name, { state: 'stopped' });
  mkdirSync(join(env.paths.vmsDir, name), { recursive: true });
  new LeaseStore(env.db).lease('172.16.0.0/24', vm.id);
  return vm;
}

describe('deleting one VM twice at once', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  it('removes it once; the other delete says it does not exist', async () => {
    env = testEnv();
    insertStoppedVm(env, 'same');
    const results = await Promise.allSettled([deleteVm(env, 'same', { force: true }), deleteVm(env, 'same', { force: true })]);
    const done = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(done).toHaveLength(1);
    expect(done[0]!.value.removed).toEqual(expect.arrayContaining([expect.stringMatching(/^lease/), `dir ${join(env.paths.vmsDir, 'same')}`]));
    expect(refused).toHaveLength(1);
    expect((refused[0]!.reason as Error).message).toMatch(/same.*does not exist/);
    expect(new VmRepository(env.db).list()).toEqual([]);
    expect(new LeaseStore(env.db).leases('172.16.0.0/24')).toEqual([]);
  });

  it('lets a run --rm cleanup and a delete race: one removes, the other finds nothing left to do', async () => {
    env = testEnv();
    const vm = insertStoppedVm(env, 'rm-race');
    const [cleanup, deleted] = await Promise.allSettled([removeVm(env, vm, { force: true }), deleteVm(env, 'rm-race', { force: true })]);
    expect(cleanup.status).toBe('fulfilled');
    expect(cleanup.status === 'fulfilled' && cleanup.value.removed.length).toBeGreaterThan(0);
    expect(deleted.status).toBe('rejected');
    expect(existsSync(join(env.paths.vmsDir, 'rm-race'))).toBe(false);
  });
});

describe('vm run --rm: removal handed to the daemon (deleteVmInBackground)', () => {
  let env: ReturnType<typeof testEnv>;
  afterEach(() => env?.cleanup());

  it('answers at once with the VM hidden from list, find and completion, then removes it; a new VM of the name waits for that', async () => {
    env = testEnv();
    insertStoppedVm(env, 'handed');
    const repo = new VmRepository(env.db);
    const answer = await deleteVmInBackground(env, 'handed');
    expect(answer).toEqual({ name: 'handed', removed: [], background: true });
    // Marked, not yet removed: gone for the user, the name still held.
    expect(repo.list()).toEqual([]);
    expect(repo.names()).toEqual([]);
    expect(repo.find('handed')).toBeUndefined();
    expect(repo.nameTaken('handed')).toBe(true);
    expect(() => repo.get('handed')).toThrow(/handed does not exist/);
    await nameFreed(env, 'handed');
    expect(repo.nameTaken('handed')).toBe(false);
    expect(repo.listAll()).toEqual([]);
    expect(existsSync(join(env.paths.vmsDir, 'handed'))).toBe(false);
    expect(new LeaseStore(env.db).leases('172.16.0.0/24')).toEqual([]);
    await backgroundRemovalsEnded();
  });

  it('finishes at the next daemon start a removal a killed daemon left (a record marked deleting)', async () => {
    env = testEnv();
    const vm = insertStoppedVm(env, 'orphaned');
    new VmRepository(env.db).update(vm.id, { state: 'deleting', stateReason: 'being deleted (vm run --rm)' });
    const report = await reconcileVms(env);
    expect(report.removed).toEqual(['orphaned']);
    expect(new VmRepository(env.db).listAll()).toEqual([]);
    expect(existsSync(join(env.paths.vmsDir, 'orphaned'))).toBe(false);
    expect(new LeaseStore(env.db).leases('172.16.0.0/24')).toEqual([]);
  });
});
