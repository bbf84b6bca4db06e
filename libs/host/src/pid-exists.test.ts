import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pidExists } from './pid-exists.js';

describe('pidExists', () => {
  it('is true for this process and for init, which belongs to root', () => {
    expect(pidExists(process.pid)).toBe(true);
    expect(pidExists(1)).toBe(true);
  });

  it('is false once a child has exited and been reaped, and for nonsense pids', async () => {
    const child = spawn('true');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(pidExists(child.pid!)).toBe(false);
    expect(pidExists(0)).toBe(false);
    expect(pidExists(-1)).toBe(false);
    expect(pidExists(1.5)).toBe(false);
  });

  it('is false for a zombie: a process that ended but is not reaped yet (its temp files are already leftovers)', async () => {
    // sh starts a short sleep in the background, then becomes a long sleep that never waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 10']);
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
      await new Promise((r) => setTimeout(r, 600));
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(pidExists(zombie)).toBe(false);
      expect(pidExists(parent.pid!)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
