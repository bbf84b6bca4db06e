import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FirecrackerDriver, type VmHandle, type VmSpec } from '@banger/hypervisor';
import { startOrResume } from './start-or-resume.js';
import { writeSuspendMeta, type BootedWith } from './suspended-state.js';
import { VmDir } from './vm-dir.js';

// The Firecracker API double of @banger/hypervisor's contract tests, run as the firecracker binary:
// the real driver spawns it, and it validates every request against the pinned v1.16.1 spec.
const FAKE = resolve(import.meta.dirname, '../../hypervisor/test/fc-double/fake-firecracker.mjs');

let root: string;
let dir: VmDir;
let log: string;
const handles: VmHandle[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'banger-resume-'));
  dir = new VmDir(join(root, 'vms'), 'box').create();
  log = join(root, 'requests.jsonl');
  for (const f of ['vmlinux', 'initrd.img', 'modules.ext4']) writeFileSync(join(root, f), 'x');
  for (const f of [dir.rootfs, dir.workDisk]) writeFileSync(f, 'x');
});
afterEach(async () => {
  const driver = new FirecrackerDriver({ binary: binary() });
  for (const h of handles.splice(0)) await driver.stop(h, { graceMs: 100 });
  rmSync(root, { recursive: true, force: true });
});

function binary(): string {
  const path = join(root, 'firecracker');
  writeFileSync(path, `#!/bin/sh\nexport FC_DOUBLE_LOG='${log}'\nexec ${process.execPath} ${FAKE} "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

const spec = (): VmSpec => ({
  id: 'vm_box',
  name: 'box',
  vcpu: 1,
  memoryMib: 256,
  kernel: { vmlinux: join(root, 'vmlinux'), initrd: join(root, 'initrd.img') },
  bootArgs: 'console=ttyS0 reboot=k panic=1',
  disks: [
    { id: 'rootfs', path: dir.rootfs, readOnly: false },
    { id: 'work', path: dir.workDisk, readOnly: false },
    { id: 'modules', path: join(root, 'modules.ext4'), readOnly: true },
  ],
  net: { tap: 'bgr-box', mac: '06:00:0a:00:00:02' },
  consoleLogPath: dir.consoleLog,
  agentSocketPath: dir.agentSocket,
  vmDir: dir.root,
});

const paths = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path?: string; status?: number }) : [])
  .filter((r) => r.path).map((r) => `${r.path} ${r.status}`);

/** A VM suspended through the real driver, with the suspend.json `vm suspend` writes. */
async function suspendedVm(driver: FirecrackerDriver, bootedWith: BootedWith): Promise<void> {
  const handle = await driver.start(bootedWith.spec);
  await driver.suspend(handle, dir.suspendState);
  await writeSuspendMeta(dir, { format: 1, suspendedAt: new Date().toISOString(), bootedWith });
}

async function start(driver: FirecrackerDriver, bootedWith: BootedWith) {
  const lines: string[] = [];
  const result = await startOrResume(driver, bootedWith.spec, { dir, vmName: 'box', bootedWith, signal: new AbortController().signal, existingAlive: false, line: (l) => lines.push(l) });
  handles.push(result.handle);
  return { ...result, lines };
}

describe('starting a suspended Firecracker VM', () => {
  it('resumes it from its saved state and removes the state (both files)', async () => {
    const driver = new FirecrackerDriver({ binary: binary() });
    const bootedWith = { binary: binary(), spec: spec() };
    await suspendedVm(driver, bootedWith);
    const { handle, resumed, lines } = await start(driver, bootedWith);
    expect(resumed).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^resumed from the saved state \(\d+ MiB\) in \d+\.\d s$/);
    expect(paths().slice(-1)).toEqual(['/snapshot/load 204']);
    expect(await driver.status(handle)).toEqual({ state: 'running' });
    expect(existsSync(dir.suspendState) || existsSync(`${dir.suspendState}.mem`) || existsSync(dir.suspendMeta)).toBe(false);
  });

  const spoiled: Array<[string, () => void, RegExp]> = [
    ['Firecracker refuses the state file', () => writeFileSync(dir.suspendState, 'not a snapshot'),
      /^warning: could not resume vm box from its saved state \(firecracker API PUT \/snapshot\/load failed \(400\): Load snapshot error: .*CRC64.*\); booting it cold$/],
    ['the memory file is missing', () => rmSync(`${dir.suspendState}.mem`),
      /^warning: could not resume vm box from its saved state \(the saved state .*suspend\.state\.mem is missing\); booting it cold$/],
    ['it was saved by another banger (suspend.json of another format)', () => writeFileSync(dir.suspendMeta, JSON.stringify({ format: 2, suspendedAt: new Date().toISOString() })),
      /^warning: not resuming vm box from its saved state: its description \(suspend\.json\) is missing or unreadable; booting it cold$/],
  ];
  it.each(spoiled)('boots it cold with one warning when %s, and removes the state', async (_what, spoil, warning) => {
    const driver = new FirecrackerDriver({ binary: binary() });
    const bootedWith = { binary: binary(), spec: spec() };
    await suspendedVm(driver, bootedWith);
    spoil();
    const { handle, resumed, lines } = await start(driver, bootedWith);
    expect(resumed).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(warning);
    // The cold boot ran to InstanceStart in a new process, and the VM runs.
    expect(paths().at(-1)).toBe('/actions 204');
    expect(await driver.status(handle)).toEqual({ state: 'running' });
    expect(existsSync(dir.suspendState) || existsSync(`${dir.suspendState}.mem`) || existsSync(dir.suspendMeta)).toBe(false);
  });
});
