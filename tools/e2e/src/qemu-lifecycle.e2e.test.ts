import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAlive, QemuDriver, selectHypervisor, type VmHandle, type VmSpec, type VmStatus } from '@banger/hypervisor';
import { loadArtifacts } from './artifacts.js';

/**
 * The QEMU driver's lifecycle contract on a real guest kernel and initrd,
 * without a network or a full image. Two guest behaviours are enough:
 * - WAITING: root=/dev/vdz never appears, so the initrd waits for it (up to
 *   banger.roottimeout) — a live guest that ignores the ACPI power button;
 * - REBOOTING: the root disk (the bundle's modules.ext4) has no /sbin/init, so
 *   the initrd gives up and reboots, which ends QEMU (-no-reboot).
 */
describe.skipIf(!process.env['BANGER_NETNS'])('the QEMU driver on a real kernel', () => {
  let dir: string;
  let driver: QemuDriver;
  let base: Omit<VmSpec, 'id' | 'vmDir' | 'consoleLogPath' | 'bootArgs'>;
  const started: VmHandle[] = [];

  const specFor = (id: string, bootArgs: string): VmSpec => ({
    ...base,
    id,
    bootArgs,
    vmDir: join(dir, id),
    agentSocketPath: join(dir, id, 'agent.sock'),
    consoleLogPath: join(dir, id, 'console.log'),
  });
  const WAITING = 'console=ttyS0 root=/dev/vdz ro banger.roottimeout=600';
  const REBOOTING = 'console=ttyS0 root=/dev/vda ro reboot=k panic=1';
  const consoleOf = (spec: VmSpec) => (existsSync(spec.consoleLogPath) ? readFileSync(spec.consoleLogPath, 'utf8') : '');
  const waitForConsole = async (spec: VmSpec, text: string, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (consoleOf(spec).includes(text)) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`"${text}" not in ${spec.consoleLogPath} after ${timeoutMs} ms; tail:\n${consoleOf(spec).slice(-2000)}`);
  };

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    dir = mkdtempSync(join(tmpdir(), 'banger-qemu-'));
    const choice = await selectHypervisor({ preference: 'qemu' });
    driver = new QemuDriver({ binary: choice.binary, accel: choice.accel });
    base = {
      name: 'lifecycle',
      vcpu: 1,
      memoryMib: 256,
      kernel: { vmlinux: artifacts.kernel.vmlinux, initrd: artifacts.kernel.initrd },
      disks: [{ id: 'rootfs', path: artifacts.kernel.modules, readOnly: true }],
    };
  });

  afterAll(async () => {
    for (const handle of started) await driver.stop(handle, { graceMs: 0 }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('boots, writes the guest console to the log file, and start with the running handle is a no-op', async () => {
    const spec = specFor('vm_idem', WAITING);
    const handle = await driver.start(spec);
    started.push(handle);
    expect(handle).toMatchObject({ kind: 'qemu', vmDir: spec.vmDir });
    expect(handle.startTime).toMatch(/^\d+$/);
    expect(await driver.status(handle)).toEqual({ state: 'running' });
    expect(await driver.start(spec, { existing: handle })).toBe(handle);
    await waitForConsole(spec, 'Linux version');
    // The hypervisor's own messages are kept apart from the guest console.
    expect(existsSync(join(spec.vmDir, 'hypervisor.log'))).toBe(true);
    expect(readFileSync(join(spec.vmDir, 'qemu.pid'), 'utf8').trim()).toBe(String(handle.pid));
    // The agent channel's host end accepts connections (the initrd runs no agent to answer).
    const agent = await driver.connectAgent(handle, { agentSocketPath: join(spec.vmDir, 'agent.sock') });
    agent.destroy();
  });

  it('stops a guest that ignores the power button by signal, removes the QMP socket, and stopping again is a no-op', async () => {
    const spec = specFor('vm_stop', WAITING);
    const handle = await driver.start(spec);
    started.push(handle);
    await waitForConsole(spec, 'banger-initrd');
    const t0 = Date.now();
    const stopped = await driver.stop(handle, { graceMs: 1_000 });
    expect(stopped.state).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(processAlive(handle.pid, handle.startTime)).toBe(false);
    expect(existsSync(join(spec.vmDir, 'qmp.sock'))).toBe(false);
    expect((await driver.stop(handle)).state).toBe('stopped');
  });

  it('notices a guest that reboots (-no-reboot) as a clean exit of the process', async () => {
    const spec = specFor('vm_reboot', REBOOTING);
    const handle = await driver.start(spec);
    started.push(handle);
    const exit = await new Promise<VmStatus>((resolve) => driver.watch(handle, resolve));
    expect(exit).toEqual({ state: 'stopped', reason: 'exited with status 0' });
    expect(consoleOf(spec)).toContain('has no /sbin/init');
  });

  it('fails start with QEMU\'s own error when a disk cannot be opened, leaving no process or socket', async () => {
    const spec = specFor('vm_bad', 'console=ttyS0');
    mkdirSync(join(dir, 'not-a-disk'), { recursive: true });
    spec.disks = [{ id: 'rootfs', path: join(dir, 'not-a-disk'), readOnly: false }];
    await expect(driver.start(spec)).rejects.toThrow(/qemu-system-x86_64 exited while starting: .*not-a-disk/);
    expect(existsSync(join(spec.vmDir, 'qmp.sock'))).toBe(false);
    const pid = existsSync(join(spec.vmDir, 'qemu.pid')) ? Number(readFileSync(join(spec.vmDir, 'qemu.pid'), 'utf8')) : undefined;
    if (pid) expect(existsSync(`/proc/${pid}`)).toBe(false);
  });

  it('keeps the VM running after the process that started it exits, and another process can adopt and stop it', async () => {
    const spec = specFor('vm_outlive', WAITING);
    // A separate Node process plays the daemon: it starts the VM, prints the handle and ends.
    const entry = join(dir, 'daemon-stand-in.ts');
    writeFileSync(
      entry,
      `import { QemuDriver } from '@banger/hypervisor';\n` +
        `const [binary, accel, specJson] = process.argv.slice(2);\n` +
        `const handle = await new QemuDriver({ binary, accel }).start(JSON.parse(specJson));\n` +
        `console.log(JSON.stringify(handle));\n`,
    );
    const bundle = join(dir, 'daemon-stand-in.mjs');
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundle,
      conditions: ['@banger/source'],
      nodePaths: [resolve(import.meta.dirname, '../../../node_modules')],
      logLevel: 'silent',
    });
    const choice = await selectHypervisor({ preference: 'qemu' });
    const child = spawnSync(process.execPath, [bundle, choice.binary, choice.accel, JSON.stringify(spec)], {
      encoding: 'utf8',
      timeout: 60_000,
      cwd: resolve(import.meta.dirname, '..'),
    });
    // The stand-in exited by itself (the spawned VM does not hold its event loop open).
    expect(child.status, child.stderr).toBe(0);
    const handle = JSON.parse(child.stdout.trim()) as VmHandle;
    started.push(handle);
    expect(await driver.status(handle)).toEqual({ state: 'running' });
    await waitForConsole(spec, 'Linux version');
    expect(await driver.stop(handle, { graceMs: 500 })).toEqual({ state: 'stopped', reason: 'process gone' });
  });

  it('never takes a reused pid for the VM', async () => {
    expect(await driver.status({ kind: 'qemu', pid: process.pid, startTime: '1', vmDir: dir })).toEqual({ state: 'stopped', reason: 'process gone' });
  });
});
