import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEST_PAUSE_FILE_ENV, testPausePoint } from './test-pause.js';

describe('the fault suite pause hook', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'banger-pause-'));
    file = join(dir, 'pause');
  });
  afterEach(() => {
    delete process.env[TEST_PAUSE_FILE_ENV];
    rmSync(dir, { recursive: true, force: true });
  });

  it('does nothing without the variable, even when a file names the point', async () => {
    writeFileSync(file, 'vm.boot\n');
    await testPausePoint('vm.boot');
    expect(existsSync(`${file}.reached`)).toBe(false);
  });

  it('passes other points, pauses at the named one, says so with its pid, and goes on when the file changes', async () => {
    process.env[TEST_PAUSE_FILE_ENV] = file;
    writeFileSync(file, 'vm.boot:after\n');
    await testPausePoint('vm.boot');
    let done = false;
    const paused = testPausePoint('vm.boot:after').then(() => (done = true));
    await sleep(300);
    expect(done).toBe(false);
    expect(readFileSync(`${file}.reached`, 'utf8')).toBe(`vm.boot:after ${process.pid}\n`);
    writeFileSync(file, '');
    await paused;
    expect(done).toBe(true);
  });

  it('rejects with the reason when the call is cancelled while paused', async () => {
    process.env[TEST_PAUSE_FILE_ENV] = file;
    writeFileSync(file, 'vm.delete:stopped\n');
    const abort = new AbortController();
    const paused = testPausePoint('vm.delete:stopped', abort.signal);
    abort.abort(new Error('client went away'));
    await expect(paused).rejects.toThrow('client went away');
  });
});
