import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processAlive, processStartTime, readProcStat } from './process-alive.js';

describe('processAlive', () => {
  it('is true for this process, with or without its start time', () => {
    const startTime = processStartTime(process.pid);
    expect(startTime).toMatch(/^\d+$/);
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(process.pid, startTime)).toBe(true);
  });

  it('is false for the same pid with another start time (a reused pid)', () => {
    expect(processAlive(process.pid, '1')).toBe(false);
  });

  it('is false for a zombie: an exited child not yet reaped', async () => {
    // sh forks `true`, then becomes `sleep`, which never waits: `true` stays a zombie until sleep ends.
    const parent = spawn('sh', ['-c', 'true & exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      let zombie: number | undefined;
      for (let i = 0; i < 100 && zombie === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        zombie = childrenOf(parent.pid!).find((pid) => readProcStat(pid)?.state === 'Z');
      }
      expect(zombie).toBeDefined();
      expect(processAlive(zombie!)).toBe(false);
      expect(processAlive(parent.pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('is false once a child has exited and been reaped, and for nonsense pids', async () => {
    const child = spawn('true');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(processAlive(child.pid!)).toBe(false);
    expect(processStartTime(child.pid!)).toBeUndefined();
    expect(processAlive(0)).toBe(false);
    expect(processAlive(-1)).toBe(false);
    expect(processAlive(1.5)).toBe(false);
  });
});

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
