import { execFileSync } from 'node:child_process';
import { existsSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadArtifacts } from './artifacts.js';
import { BangerHome, buildBangerBundles, type CliResult } from './helpers/banger-cli.js';

const BOOT_MS = 8 * 60_000;
const VM = 'frozen';

/** The lines are consecutive integers from 0 on: nothing restarted, nothing lost. */
function consecutiveFromZero(text: string): number[] {
  const numbers = text.split('\n').filter(Boolean).map(Number);
  expect(numbers[0]).toBe(0);
  const gap = numbers.findIndex((n, i) => i > 0 && n !== numbers[i - 1]! + 1);
  expect(gap, `gap after ${numbers[gap - 1]}: ${numbers.slice(Math.max(0, gap - 2), gap + 2).join(',')}`).toBe(-1);
  return numbers;
}

/**
 * `vm suspend` / `vm resume` (issue #20, first slice) on a real
 * debian-minimal guest under QEMU/TCG: the whole VM goes to a file in its
 * directory, QEMU ends, and the VM continues from the file. Inside the
 * throwaway netns of tools/e2e/netns-run.sh.
 */
describe.skipIf(!process.env['BANGER_NETNS'])('suspend and resume a VM (inside a throwaway netns)', () => {
  let home: BangerHome;
  let binDir: string;
  const cli = (args: string[], timeoutMs = 180_000): Promise<CliResult> => home.cli(args, { timeoutMs });
  const show = async (): Promise<{ id: string; state: string; ip?: string; stateReason?: string }> => {
    const r = await cli(['vm', 'show', VM, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { id: string; state: string; ip?: string };
  };
  const qemuRuns = (id: string): boolean => execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').some((l) => l.includes(`process=banger-${id}`));
  const guest = async (script: string): Promise<string> => {
    const r = await cli(['vm', 'exec', VM, '--', 'sh', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  const uptime = async (): Promise<number> => Number((await guest('cat /proc/uptime')).split(' ')[0]);
  const stateFile = (): string => join(home.vmDir(VM), 'suspend.state');

  beforeAll(async () => {
    const artifacts = await loadArtifacts();
    binDir = await buildBangerBundles();
    home = new BangerHome(binDir, 'bsusp-');
    await home.seed({ name: 'debian-cloud', dir: artifacts.kernelDir }, { name: 'debian-minimal', dir: artifacts.imageDir });
    await home.writeConfig(['default_image_name = "debian-minimal"', 'hypervisor = "qemu"', '[vm_defaults]', 'vcpu = 1', 'memory_mib = 512', 'disk_size = "1G"', ''].join('\n'));
    const created = await cli(['vm', 'create', '--name', VM], BOOT_MS);
    expect(created.exitCode, `vm create failed:\n${created.stderr}\n--- console ---\n${home.consoleTail(VM)}`).toBe(0);
  }, BOOT_MS);

  afterAll(async () => {
    if (!home) return;
    await cli(['vm', 'delete', VM, '--force']);
    await cli(['daemon', 'stop'], 60_000);
    home.remove();
    if (binDir) rmSync(binDir, { recursive: true, force: true });
  }, 180_000);

  it('suspends to a file and ends QEMU; resume continues a counting session without a gap, uptime goes on, the clock is right', async () => {
    const started = await cli(['vm', 'session', 'start', VM, '--name', 'counter', '--', 'sh', '-c', 'i=0; while :; do echo $i; i=$((i+1)); sleep 0.2; done']);
    expect(started.exitCode, started.stderr).toBe(0);
    await sleep(3_000);
    const before = await show();
    const uptimeBefore = await uptime();

    const suspended = await cli(['vm', 'suspend', VM]);
    expect(suspended.exitCode, suspended.stderr).toBe(0);
    expect(suspended.stdout).toMatch(new RegExp(`^vm ${VM} is suspended \\(suspended by banger vm suspend \\(\\d+ MiB saved in [\\d.]+ s\\)\\); banger vm resume ${VM} continues it\\n$`));
    expect((await show()).state).toBe('suspended');
    expect(qemuRuns(before.id), 'no QEMU left for a suspended VM').toBe(false);
    expect(existsSync(stateFile())).toBe(true);
    // Suspending again is a no-op; exec is refused on one line.
    expect((await cli(['vm', 'suspend', VM])).exitCode).toBe(0);
    const refused = await cli(['vm', 'exec', VM, '--', 'true']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);

    await sleep(5_000);
    const resumed = await cli(['vm', 'resume', VM]);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from the saved state \(\d+ MiB\) in [\d.]+ s/);
    expect(resumed.stderr).toMatch(/guest clock set \(it was [\d.]+ s behind\), RNG reseeded/);
    expect(resumed.stdout).toBe(`vm ${VM} is running at ${before.ip}\n`);
    expect(existsSync(stateFile()), 'the saved state is used once').toBe(false);
    console.log(`suspend: ${suspended.stdout.trim()}\nresume: ${resumed.stderr.split('\n').filter((l) => /resumed from|clock set/.test(l)).join(' | ')}`);

    // The guest's clock is the host's (within a second, beyond the call's own time).
    const t0 = Date.now() / 1000;
    const guestNow = Number(await guest('date +%s.%N'));
    const t1 = Date.now() / 1000;
    expect(guestNow).toBeGreaterThan(t0 - 1);
    expect(guestNow).toBeLessThan(t1 + 1);
    // Uptime went on from where it was (a cold boot would start again near 0).
    expect(await uptime()).toBeGreaterThan(uptimeBefore);

    await sleep(2_000);
    const logs = await cli(['vm', 'session', 'logs', VM, 'counter']);
    expect(logs.exitCode, logs.stderr).toBe(0);
    const numbers = consecutiveFromZero(logs.stdout);
    expect(numbers.length, 'the counter went on after the resume').toBeGreaterThan(20);
    const list = JSON.parse((await cli(['vm', 'session', 'list', VM, '--json'])).stdout) as { sessions: Array<{ name: string; state: string }> };
    expect(list.sessions.find((s) => s.name === 'counter')?.state).toBe('running');
  }, 10 * 60_000);

  it('a corrupt saved state: resume boots the VM cold with one warning and removes the file', async () => {
    expect((await cli(['vm', 'suspend', VM])).exitCode).toBe(0);
    const fd = openSync(stateFile(), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 0);
    closeSync(fd);
    const resumed = await cli(['vm', 'resume', VM], BOOT_MS);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr.split('\n').filter((l) => l.includes('warning: could not resume'))).toHaveLength(1);
    expect(resumed.stderr).toMatch(new RegExp(`warning: could not resume vm ${VM} from its saved state \\(.+\\); booting it cold`));
    expect(existsSync(stateFile())).toBe(false);
    // A fresh boot: the counter session did not survive, the uptime started again.
    expect(await uptime()).toBeLessThan(300);
    const list = JSON.parse((await cli(['vm', 'session', 'list', VM, '--json'])).stdout) as { sessions: Array<{ name: string; state: string }> };
    expect(list.sessions.find((s) => s.name === 'counter' && s.state === 'running')).toBeUndefined();
  }, BOOT_MS);

  it('vm stop of a suspended VM drops its saved state; bad input gets one line and exit 1', async () => {
    expect((await cli(['vm', 'suspend', VM])).exitCode).toBe(0);
    const stopped = await cli(['vm', 'stop', VM]);
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    expect(stopped.stdout).toBe(`vm ${VM} is stopped (stopped by banger vm stop: the suspended state was dropped)\n`);
    expect(existsSync(stateFile())).toBe(false);
    for (const [args, culprit] of [
      [['vm', 'suspend', VM], `vm ${VM} is not running (stopped)`],
      [['vm', 'suspend', 'nosuchvm'], 'nosuchvm'],
      [['vm', 'resume', 'nosuchvm'], 'nosuchvm'],
    ] as const) {
      const r = await cli([...args]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toContain(culprit);
    }
  }, 5 * 60_000);
});
