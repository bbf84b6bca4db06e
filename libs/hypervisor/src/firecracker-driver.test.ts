import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError } from '@banger/errors';
import { createFirecrackerDouble, loadSpec, SPEC_PATH, type DoubleRecord } from '../test/fc-double/firecracker-double.mjs';
import type { VmSpec } from './driver.js';
import { FirecrackerApiError } from './firecracker-api.js';
import { buildFirecrackerCalls } from './firecracker-calls.js';
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

const requests = (): Array<DoubleRecord & { argv?: string[] }> =>
  existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];

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
