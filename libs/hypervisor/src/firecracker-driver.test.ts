import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '@banger/errors';
import { createFirecrackerDouble, loadSpec, SPEC_PATH, type DoubleRecord } from '../test/fc-double/firecracker-double.mjs';
import { savedMemoryFile, type VmSpec } from './driver.js';
import { FirecrackerApiError } from './firecracker-api.js';
import { buildFirecrackerCalls, buildFirecrackerRestoreCalls, buildSnapshotCreateCall } from './firecracker-calls.js';
import { FirecrackerDriver } from './firecracker-driver.js';

const FAKE = resolve(import.meta.dirname, '../test/fc-double/fake-firecracker.mjs');

let dir: string;
let logPath: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'banger-fc-'));
  logPath = join(dir, 'requests.jsonl');
  for (const f of ['vmlinux', 'initrd.img', 'rootfs.ext4', 'work.ext4', 'modules.ext4']) writeFileSync(join(dir, f), 'x');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A firecracker "binary" that runs the double with the given knobs, as the driver spawns it. */
function fakeBinary(env: Record<string, string> = {}): string {
  const path = join(dir, 'firecracker');
  const exports = Object.entries({ FC_DOUBLE_LOG: logPath, ...env }).map(([k, v]) => `export ${k}='${v}'`).join('\n');
  writeFileSync(path, `#!/bin/sh\n${exports}\nexec ${process.execPath} ${FAKE} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

function spec(base = dir): VmSpec {
  const dir = base;
  return {
    id: 'vm_0a1b2c',
    name: 'sandbox',
    vcpu: 2,
    memoryMib: 1024,
    kernel: { vmlinux: join(dir, 'vmlinux'), initrd: join(dir, 'initrd.img') },
    bootArgs: 'console=ttyS0 reboot=k panic=1 root=/dev/vda rw net.ifnames=0 ip=172.16.0.2::172.16.0.1:255.255.255.0:sandbox:eth0:off:172.16.0.1 systemd.hostname=sandbox banger.modules=/dev/vdc',
    disks: [
      { id: 'rootfs', path: join(dir, 'rootfs.ext4'), readOnly: false },
      { id: 'work', path: join(dir, 'work.ext4'), readOnly: false },
      { id: 'modules', path: join(dir, 'modules.ext4'), readOnly: true },
    ],
    net: { tap: 'bgr-0a1b2c3d4e5', mac: '06:00:ac:10:00:02' },
    consoleLogPath: join(dir, 'vm', 'console.log'),
    agentSocketPath: join(dir, 'vm', 'agent.sock'),
    vmDir: join(dir, 'vm'),
  };
}

/** Pids of live processes whose command line mentions `text` (zombies excluded). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (cmdline.includes(text) && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

type LogLine = DoubleRecord & { argv?: string[]; restored?: { snapshotPath: string; drives: Array<{ id: string; opened: string }> } };
const logLines = (): LogLine[] => (existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LogLine) : []);
/** The double's argv and API requests, in order. */
const requests = (): LogLine[] => logLines().filter((l) => !l.restored);
/** Which files each successful /snapshot/load reopened as the VM's drives (the double resolves them as Firecracker does). */
const restores = (): Array<NonNullable<LogLine['restored']>> => logLines().flatMap((l) => (l.restored ? [l.restored] : []));

describe('FirecrackerDriver against the API double', () => {
  it('configures and boots a VM with requests that all validate against the v1.16.1 spec', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = spec();
    const handle = await driver.start(s);
    try {
      const log = requests();
      expect(log[0]?.argv).toEqual(['--api-sock', join(s.vmDir, 'firecracker.sock'), '--id', 'vm-0a1b2c']);
      const calls = log.slice(1);
      expect(calls.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        'GET /version 200',
        'PUT /logger 204',
        'PUT /machine-config 204',
        'PUT /boot-source 204',
        'PUT /drives/rootfs 204',
        'PUT /drives/work 204',
        'PUT /drives/modules 204',
        'PUT /network-interfaces/eth0 204',
        'PUT /vsock 204',
        'PUT /actions 204',
      ]);
      // Every body went with an explicit Content-Length (micro_http ignores chunked bodies).
      for (const r of calls.filter((c) => c.method === 'PUT')) expect(Number(r.contentLength)).toBeGreaterThan(0);
      expect(await driver.status(handle)).toEqual({ state: 'running' });
      // The console (the process's stdout) lands in the console log — there the double echoes the
      // kernel command line the driver sent with PUT /boot-source — and the VMM log is a separate file.
      await expect.poll(() => existsSync(s.consoleLogPath) && readFileSync(s.consoleLogPath, 'utf8')).toContain(`Kernel command line: ${s.bootArgs}`);
      expect(existsSync(join(s.vmDir, 'firecracker.log'))).toBe(true);
    } finally {
      const stopped = await driver.stop(handle, { graceMs: 5_000 });
      expect(stopped).toEqual({ state: 'stopped', reason: 'exited with status 0' });
    }
    expect(requests().at(-1)).toMatchObject({ method: 'PUT', path: '/actions', body: { action_type: 'SendCtrlAltDel' }, status: 204 });
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
    expect(existsSync(s.agentSocketPath!)).toBe(false);
  });

  const sequence = buildFirecrackerCalls(spec('/placeholder')).map((c) => `${c.method} ${c.path}`);
  it.each(['GET /version', ...sequence])('reports an injected 400 at %s and leaves no process or socket behind', async (failAt) => {
    const driver = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_FAIL: failAt }) });
    const s = spec();
    const attempt = driver.start(s);
    await expect(attempt).rejects.toBeInstanceOf(FirecrackerApiError);
    await expect(attempt).rejects.toThrow(`firecracker API ${failAt} failed (400): injected failure at ${failAt}`);
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
    expect(existsSync(s.agentSocketPath!)).toBe(false);
    expect(requests().at(-1)).toMatchObject({ status: 400 });
    // No firecracker process survives the failure.
    expect(processesMentioning(s.vmDir)).toEqual([]);
  });

  it('stops configuring when cancelled, kills the process and removes its sockets', async () => {
    const abort = new AbortController();
    const driver = new FirecrackerDriver({
      binary: fakeBinary(),
      onCall: (call) => call.path === '/boot-source' && abort.abort(),
    });
    const s = spec();
    await expect(driver.start(s, { signal: abort.signal })).rejects.toBeInstanceOf(CancelledError);
    expect(requests().some((r) => r.path === '/actions')).toBe(false);
    expect(processesMentioning(s.vmDir)).toEqual([]);
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
  });

  it('removes a stale API socket and vsock left by a crashed run before spawning', async () => {
    const s = spec();
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    // A crashed Firecracker leaves its socket files behind; the real one refuses to bind over them.
    mkdirSync(s.vmDir, { recursive: true });
    writeFileSync(join(s.vmDir, 'firecracker.sock'), '');
    writeFileSync(s.agentSocketPath!, '');
    const handle = await driver.start(s);
    try {
      expect(await driver.status(handle)).toEqual({ state: 'running' });
      // The regular files are gone: what is there now is the new process's listening socket.
      expect(statSync(join(s.vmDir, 'firecracker.sock')).isSocket()).toBe(true);
    } finally {
      await driver.stop(handle);
    }
  });

  it('is idempotent: start with the handle of a running VM returns it without a second process', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = spec();
    const handle = await driver.start(s);
    try {
      const again = await driver.start(s, { existing: handle });
      expect(again).toBe(handle);
      expect(requests().filter((r) => r.argv)).toHaveLength(1);
    } finally {
      await driver.stop(handle);
    }
    // Stopping twice is fine.
    expect(await driver.stop(handle)).toMatchObject({ state: 'stopped' });
  });

  it('falls back to SIGKILL when the guest ignores SendCtrlAltDel', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_IGNORE_CAD: '1' }) });
    const handle = await driver.start(spec());
    const t0 = Date.now();
    expect(await driver.stop(handle, { graceMs: 300 })).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('notices when the firecracker process is killed and says how it ended', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = spec();
    const handle = await driver.start(s);
    const exited = new Promise((r) => driver.watch(handle, r));
    process.kill(handle.pid, 'SIGKILL');
    expect(await exited).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    expect(await driver.status(handle)).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    // A pid with another start time is never taken for the VM.
    expect(await driver.status({ ...handle, pid: process.pid })).toMatchObject({ state: 'stopped' });
    await driver.stop(handle);
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
  });

  it('connects to the guest agent over the vsock UDS with CONNECT 1024 and gets a byte stream', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = spec();
    const handle = await driver.start(s);
    try {
      const socket = await driver.connectAgent(handle, s);
      const echoed = await new Promise<string>((resolve) => {
        socket.once('data', (d: Buffer) => resolve(d.toString()));
        socket.write('ping\n');
      });
      expect(echoed).toBe('ping\n');
      socket.destroy();
    } finally {
      await driver.stop(handle);
    }
    // After stop the UDS is gone, and connecting says so.
    await expect(driver.connectAgent(handle, s)).rejects.toThrow(`connecting to ${s.agentSocketPath}`);
  });

  it('snapshots a running VM by pausing, creating a full snapshot and resuming, with spec-valid bodies', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const handle = await driver.start(spec());
    try {
      await driver.createSnapshot(handle, { stateFile: join(dir, 'vm.state'), memFile: join(dir, 'vm.mem') });
    } finally {
      await driver.stop(handle);
    }
    const calls = requests().filter((r) => r.path === '/vm' || r.path === '/snapshot/create');
    expect(calls.map((r) => [r.method, r.path, r.body, r.status])).toEqual([
      ['PATCH', '/vm', { state: 'Paused' }, 204],
      ['PUT', '/snapshot/create', { snapshot_type: 'Full', snapshot_path: join(dir, 'vm.state'), mem_file_path: join(dir, 'vm.mem') }, 204],
      ['PATCH', '/vm', { state: 'Resumed' }, 204],
    ]);
  });

  it('resumes the VM when creating a snapshot fails, and reports the fault', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_FAIL: 'PUT /snapshot/create' }) });
    const handle = await driver.start(spec());
    try {
      await expect(driver.createSnapshot(handle, { stateFile: join(dir, 's'), memFile: join(dir, 'm') })).rejects.toThrow(
        'firecracker API PUT /snapshot/create failed (400): injected failure at PUT /snapshot/create',
      );
      expect(requests().at(-1)).toMatchObject({ method: 'PATCH', path: '/vm', body: { state: 'Resumed' }, status: 204 });
    } finally {
      await driver.stop(handle);
    }
  });

  it('refuses a Firecracker older than 1.8 and leaves nothing behind', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_VERSION: '1.7.0' }) });
    const s = spec();
    await expect(driver.start(s)).rejects.toThrow('is Firecracker 1.7.0, banger needs ≥ 1.8.0');
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
  });

  it('reports a binary that exits at once with its stderr', async () => {
    const bin = join(dir, 'broken-firecracker');
    writeFileSync(bin, '#!/bin/sh\necho "Failed to open the API socket: permission denied" >&2\nexit 1\n');
    chmodSync(bin, 0o755);
    const s = spec();
    await expect(new FirecrackerDriver({ binary: bin }).start(s)).rejects.toThrow(
      'firecracker exited before opening its API socket',
    );
    await expect(new FirecrackerDriver({ binary: bin }).start(s)).rejects.toThrow('permission denied');
  });
});

describe('FirecrackerDriver suspend and restore (vm suspend / vm resume)', () => {
  const stateFile = () => join(dir, 'vm', 'suspend.state');

  /** Boots a VM on the double and suspends it; returns the spec and the request log up to there. */
  async function suspended(driver: FirecrackerDriver, s = spec()): Promise<VmSpec> {
    const handle = await driver.start(s);
    await driver.suspend(handle, stateFile());
    expect(await driver.status(handle)).toEqual({ state: 'stopped', reason: 'killed by SIGKILL' });
    return s;
  }

  it('suspends: pause, full snapshot into the VM dir, then the paused process is killed without waking the guest', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = await suspended(driver);
    const log = requests();
    const afterBoot = log.slice(log.findIndex((r) => r.path === '/actions') + 1);
    expect(afterBoot.map((r) => [r.method, r.path, r.body, r.status])).toEqual([
      ['GET', '/version', undefined, 200],
      ['GET', '/machine-config', undefined, 200],
      ['PATCH', '/vm', { state: 'Paused' }, 204],
      ['PUT', '/snapshot/create', { snapshot_type: 'Full', snapshot_path: stateFile(), mem_file_path: `${stateFile()}.mem` }, 204],
    ]);
    // Both files of the saved state are in the VM dir; no SendCtrlAltDel, no resume; nothing left running or bound.
    expect(existsSync(stateFile()) && existsSync(`${stateFile()}.mem`)).toBe(true);
    expect(processesMentioning(s.vmDir)).toEqual([]);
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
    expect(existsSync(s.agentSocketPath!)).toBe(false);
  });

  it('restores in a fresh process: logger, then /snapshot/load with the File backend, resume_vm and the spec\'s tap and vsock', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = await suspended(driver);
    const before = requests().length;
    const handle = await driver.start(s, { restoreFrom: stateFile() });
    try {
      const log = requests().slice(before);
      expect(log[0]?.argv).toEqual(['--api-sock', join(s.vmDir, 'firecracker.sock'), '--id', 'vm-0a1b2c']);
      expect(log.slice(1).map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /version 200', 'PUT /logger 204', 'PUT /snapshot/load 204']);
      expect(log.at(-1)?.body).toEqual({
        snapshot_path: stateFile(),
        mem_backend: { backend_type: 'File', backend_path: `${stateFile()}.mem` },
        resume_vm: true,
        network_overrides: [{ iface_id: 'eth0', host_dev_name: s.net!.tap }],
        vsock_override: { uds_path: s.agentSocketPath },
      });
      expect(await driver.status(handle)).toEqual({ state: 'running' });
      await expect.poll(() => readFileSync(s.consoleLogPath, 'utf8')).toContain(`Restored from ${stateFile()}`);
      // The vsock UDS was bound again by the load (the old process's file was removed first); the agent channel works.
      const socket = await driver.connectAgent(handle, s);
      const echoed = await new Promise<string>((ok) => {
        socket.once('data', (d: Buffer) => ok(d.toString()));
        socket.write('after restore\n');
      });
      expect(echoed).toBe('after restore\n');
      socket.destroy();
      // A restored VM can be suspended again (the memory file it maps is unlinked, never truncated).
      await driver.suspend(handle, stateFile());
      expect(await driver.status(handle)).toMatchObject({ state: 'stopped' });
      const again = await driver.start(s, { restoreFrom: stateFile() });
      await driver.stop(again);
    } finally {
      await driver.stop(handle);
    }
  });

  it('restores onto another tap and agent socket (network_overrides, vsock_override), as the contract allows', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const s = await suspended(driver);
    const moved: VmSpec = { ...s, net: { ...s.net!, tap: 'bgr-ffffffffff' }, agentSocketPath: join(s.vmDir, 'agent-2.sock') };
    const handle = await driver.start(moved, { restoreFrom: stateFile() });
    try {
      const load = requests().at(-1)!;
      expect(load).toMatchObject({ path: '/snapshot/load', status: 204 });
      expect(load.body).toMatchObject({ network_overrides: [{ iface_id: 'eth0', host_dev_name: 'bgr-ffffffffff' }], vsock_override: { uds_path: moved.agentSocketPath } });
      const socket = await driver.connectAgent(handle, moved);
      socket.destroy();
    } finally {
      await driver.stop(handle);
    }
    expect(existsSync(moved.agentSocketPath!)).toBe(false);
  });

  it('restores a state saved in a directory since renamed into other VM directories, each opening its own copies of the disks (warm templates)', async () => {
    const driver = new FirecrackerDriver({ binary: fakeBinary() });
    const shared = join(dir, 'modules.ext4');
    /** A VM whose root and work disks live in its own directory, as banger lays VMs and templates out. */
    const inDir = (vmDir: string, tap: string): VmSpec => ({
      ...spec(),
      disks: [
        { id: 'rootfs', path: join(vmDir, 'rootfs.ext4'), readOnly: false },
        { id: 'work', path: join(vmDir, 'work.ext4'), readOnly: false },
        { id: 'modules', path: shared, readOnly: true },
      ],
      net: { tap, mac: '06:00:ac:10:00:fe' },
      consoleLogPath: join(vmDir, 'console.log'),
      agentSocketPath: join(vmDir, 'agent.sock'),
      vmDir,
    });
    const building = join(dir, 'tpl.tmp-1-ab');
    mkdirSync(building);
    for (const disk of ['rootfs.ext4', 'work.ext4']) writeFileSync(join(building, disk), `template ${disk}`);
    const template = inDir(building, 'bgr-tpl0000000');
    await driver.suspend(await driver.start(template), join(building, 'template.state'));
    // The drives were given relative to the directory Firecracker runs in; the shared one stays absolute.
    const drives = requests().filter((r) => r.method === 'PUT' && r.path.startsWith('/drives/')).map((r) => (r.body as { path_on_host: string }).path_on_host);
    expect(drives).toEqual(['rootfs.ext4', 'work.ext4', shared]);

    const finalDir = join(dir, 'tpl');
    renameSync(building, finalDir);
    const vms = ['vm-a', 'vm-b'].map((name, i) => {
      const vmDir = join(dir, name);
      mkdirSync(vmDir);
      for (const disk of ['rootfs.ext4', 'work.ext4']) copyFileSync(join(finalDir, disk), join(vmDir, disk));
      return inDir(vmDir, `bgr-${i}aaaaaaaaa`);
    });
    const handles = await Promise.all(vms.map((vm) => driver.start(vm, { restoreFrom: join(finalDir, 'template.state') })));
    try {
      const opened = restores().map((r) => Object.fromEntries(r.drives.map((d) => [d.id, d.opened])));
      expect(opened).toHaveLength(2);
      for (const vm of vms) {
        // Each restored VM reopened its own copies, never the template's disks (nor the temp path they were saved under).
        expect(opened).toContainEqual({ rootfs: join(vm.vmDir, 'rootfs.ext4'), work: join(vm.vmDir, 'work.ext4'), modules: shared });
      }
      for (const [i, vm] of vms.entries()) {
        expect(await driver.status(handles[i]!)).toEqual({ state: 'running' });
        const socket = await driver.connectAgent(handles[i]!, vm);
        socket.destroy();
      }
    } finally {
      await Promise.all(handles.map((h) => driver.stop(h)));
    }
  });

  const refusals: Array<[string, (s: VmSpec) => void, Record<string, string>, string]> = [
    ['a corrupt state file (Firecracker answers 400, then exits)', () => writeFileSync(stateFile(), 'garbage'), {},
      'firecracker API PUT /snapshot/load failed (400): Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state from file: Snapshot CRC64 validation failed'],
    ['a load Firecracker refuses', () => undefined, { FC_DOUBLE_FAIL: 'PUT /snapshot/load' },
      'firecracker API PUT /snapshot/load failed (400): injected failure at PUT /snapshot/load'],
    ['a disk that is gone', (s) => rmSync(s.disks[1]!.path), {}, 'disk work '],
    ['a missing memory file', () => rmSync(savedMemoryFile(stateFile())), {},
      'vm/suspend.state.mem is missing'],
    ['a Firecracker older than 1.16', () => undefined, { FC_DOUBLE_VERSION: '1.15.0' },
      'is Firecracker 1.15.0, restoring a saved VM needs ≥ 1.16.0'],
  ];
  it.each(refusals)('refuses %s with a one-line error and leaves no process or socket', async (_what, spoil, knobs, message) => {
    const s = await suspended(new FirecrackerDriver({ binary: fakeBinary() }));
    spoil(s);
    const driver = new FirecrackerDriver({ binary: fakeBinary(knobs) });
    const attempt = driver.start(s, { restoreFrom: stateFile() });
    const error = await attempt.then(() => undefined, (e: Error) => e);
    expect(error?.message).toContain(message);
    expect(error?.message).not.toContain('\n');
    expect(processesMentioning(s.vmDir)).toEqual([]);
    expect(existsSync(join(s.vmDir, 'firecracker.sock'))).toBe(false);
    expect(existsSync(s.agentSocketPath!)).toBe(false);
    // Nothing was loaded when the driver refused before asking Firecracker.
    if (_what.includes('memory') || _what.includes('older')) expect(requests().at(-1)).toMatchObject({ path: '/version' });
  });

  it('keeps the VM running when the snapshot fails, and refuses to suspend under a Firecracker older than 1.16', async () => {
    const failing = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_FAIL: 'PUT /snapshot/create' }) });
    const handle = await failing.start(spec());
    try {
      await expect(failing.suspend(handle, stateFile())).rejects.toThrow('firecracker API PUT /snapshot/create failed (400): injected failure at PUT /snapshot/create');
      expect(requests().at(-1)).toMatchObject({ method: 'PATCH', path: '/vm', body: { state: 'Resumed' }, status: 204 });
      expect(await failing.status(handle)).toEqual({ state: 'running' });
    } finally {
      await failing.stop(handle);
    }
    const old = new FirecrackerDriver({ binary: fakeBinary({ FC_DOUBLE_VERSION: '1.15.0' }) });
    const oldHandle = await old.start(spec());
    const before = requests().length;
    try {
      await expect(old.suspend(oldHandle, stateFile())).rejects.toThrow('is Firecracker 1.15.0, suspending a VM needs ≥ 1.16.0');
      expect(requests().slice(before).map((r) => r.path)).toEqual(['/version']);
      expect(await old.status(oldHandle)).toEqual({ state: 'running' });
    } finally {
      await old.stop(oldHandle);
    }
  });

  it('builds snapshot requests whose bodies validate against the v1.16.1 schemas', () => {
    const route = loadSpec();
    const s = spec('/placeholder');
    for (const call of [buildSnapshotCreateCall('/p/suspend.state'), ...buildFirecrackerRestoreCalls(s, '/p/suspend.state')]) {
      const r = route(call.method, call.path);
      expect(r?.validate?.(call.body), `${call.method} ${call.path}: ${JSON.stringify(r?.validate?.errors)}`).toBe(true);
    }
    // Without a network or an agent socket no override is sent.
    const bare = buildFirecrackerRestoreCalls({ ...s, net: undefined, agentSocketPath: undefined }, '/p/s').at(-1)!.body as Record<string, unknown>;
    expect(Object.keys(bare).sort()).toEqual(['mem_backend', 'resume_vm', 'snapshot_path']);
  });

  it('makes a multi-line fault_message one line', () => {
    const error = new FirecrackerApiError({ method: 'PUT', path: '/snapshot/load' }, 400, 'Load snapshot error:\n  Failed to restore\n');
    expect(error.message).toBe('firecracker API PUT /snapshot/load failed (400): Load snapshot error: Failed to restore');
  });
});

describe('the Firecracker API double', () => {
  let socketPath: string;
  let records: DoubleRecord[];
  let double: ReturnType<typeof createFirecrackerDouble>;
  beforeEach(async () => {
    socketPath = join(dir, 'api.sock');
    records = [];
    double = createFirecrackerDouble({ socketPath, onRequest: (r) => records.push(r) });
    await double.listen();
  });
  afterEach(() => double.close());

  const send = (method: string, path: string, body: unknown) =>
    new Promise<{ status: number; body: string }>((ok, fail) => {
      const payload = Buffer.from(JSON.stringify(body));
      const req = request({ socketPath, method, path, headers: { 'Content-Length': payload.length } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', fail);
      req.end(payload);
    });

  it('is built from the pinned v1.16.1 spec file, unmodified', () => {
    const sha = createHash('sha256').update(readFileSync(SPEC_PATH)).digest('hex');
    expect(sha).toBe('a514abec7b29700c5ca8bdaebbb960e4ffb46fe1fd4869094c6c63630a6fa41c');
    expect(loadSpec()('PUT', '/drives/rootfs')?.template).toBe('/drives/{drive_id}');
  });

  it('rejects an unknown field like Firecracker does (additionalProperties: false)', async () => {
    const answer = await send('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128, memory: 1 });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).fault_message).toContain('unknown field `memory`');
  });

  it('rejects a body of the wrong type', async () => {
    const answer = await send('PUT', '/machine-config', { vcpu_count: '2', mem_size_mib: 128 });
    expect(answer.status).toBe(400);
  });

  it('rejects a hyphen in a resource id and a body id that differs from the path', async () => {
    const base = { is_root_device: false, is_read_only: false, path_on_host: join(dir, 'work.ext4') };
    const hyphen = await send('PUT', '/drives/work-disk', { drive_id: 'work-disk', ...base });
    expect(JSON.parse(hyphen.body).fault_message).toBe('API Resource IDs can only contain alphanumeric characters and underscores.');
    const mismatch = await send('PUT', '/drives/work', { drive_id: 'other', ...base });
    expect(JSON.parse(mismatch.body).fault_message).toBe('The id from the path does not match the id from the body!');
  });

  it('refuses InstanceStart without a boot source and configuration after InstanceStart', async () => {
    const early = await send('PUT', '/actions', { action_type: 'InstanceStart' });
    expect(JSON.parse(early.body).fault_message).toContain('without kernel configuration');
    expect((await send('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128 })).status).toBe(204);
    expect((await send('PUT', '/boot-source', { kernel_image_path: join(dir, 'vmlinux') })).status).toBe(204);
    expect((await send('PUT', '/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    const late = await send('PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 128 });
    expect(JSON.parse(late.body).fault_message).toBe('The requested operation is not supported after starting the microVM.');
  });

  it('refuses SendCtrlAltDel before boot and a kernel path that does not exist', async () => {
    const cad = await send('PUT', '/actions', { action_type: 'SendCtrlAltDel' });
    expect(JSON.parse(cad.body).fault_message).toContain('not supported before starting');
    const kernel = await send('PUT', '/boot-source', { kernel_image_path: join(dir, 'missing') });
    expect(JSON.parse(kernel.body).fault_message).toContain('The kernel file cannot be opened');
  });
});
