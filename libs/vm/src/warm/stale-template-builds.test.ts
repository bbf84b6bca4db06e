import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processAlive, processStartTime } from '@banger/hypervisor';
import { cleanStaleTemplateBuilds } from './warm-housekeeping.js';
import { warmRoot } from './warm-template.js';

/** A pid that was a process a moment ago and is none now (the killed daemon of a build). */
function deadPid(): number {
  const child = spawnSync('sh', ['-c', 'echo $$']);
  return Number(child.stdout.toString().trim());
}

describe('a template build left by a daemon killed mid-build', () => {
  const roots: string[] = [];
  const pids: number[] = [];
  afterEach(() => {
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  });

  /** A detached process whose command line points into `dir`, as the template guest's QEMU does (its disks, QMP socket, pid file). */
  const guestIn = (dir: string): { pid: number; startTime: string } => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', `${dir}/rootfs.ext4`], { detached: true, stdio: 'ignore' });
    child.unref();
    pids.push(child.pid!);
    return { pid: child.pid!, startTime: processStartTime(child.pid!)! };
  };

  it('is removed at daemon start: its guest killed, its directory gone; a live build and the complete templates stay', async () => {
    const home = mkdtempSync(join(tmpdir(), 'stale-tpl-'));
    roots.push(home);
    const vmsDir = join(home, 'state', 'vms');
    const warm = warmRoot(vmsDir);
    const stale = join(warm, `0123456789abcdef.tmp-${deadPid()}-deadbeef`);
    const live = join(warm, `fedcba9876543210.tmp-${process.pid}-cafef00d`);
    const complete = join(warm, '00112233aabbccdd');
    for (const dir of [stale, live, complete]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'rootfs.ext4'), '');
    }
    const staleGuest = guestIn(stale);
    const liveGuest = guestIn(live);

    const removed = await cleanStaleTemplateBuilds(vmsDir);

    expect(removed).toEqual([stale]);
    expect(existsSync(stale)).toBe(false);
    expect(processAlive(staleGuest.pid, staleGuest.startTime), 'the stale build guest is killed').toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(processAlive(liveGuest.pid, liveGuest.startTime), 'a live build is left alone').toBe(true);
    expect(existsSync(join(complete, 'rootfs.ext4'))).toBe(true);
  });

  it('finds nothing to do without a warm directory', async () => {
    const home = mkdtempSync(join(tmpdir(), 'stale-tpl-'));
    roots.push(home);
    expect(await cleanStaleTemplateBuilds(join(home, 'state', 'vms'))).toEqual([]);
  });
});
