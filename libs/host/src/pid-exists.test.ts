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
});
