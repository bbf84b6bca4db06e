import { describe, expect, it } from 'vitest';
import { HostCommandError } from '@banger/errors';
import { findExecutable, hostTscKhz, run } from './index.js';

describe('run', () => {
  it('returns the output of a successful command', async () => {
    const result = await run('sh', ['-c', 'echo out; echo err >&2']);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'out\n', stderr: 'err\n' });
  });

  it('names the command and quotes the last stderr line when it fails', async () => {
    const error = await run('sh', ['-c', 'echo first >&2; echo "the reason" >&2; exit 3']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostCommandError);
    expect((error as HostCommandError).message).toBe('sh -c echo first >&2; echo "the reason" >&2; exit 3: the reason');
  });

  it('keeps the argv and exit status of a failed command', async () => {
    const error = (await run('sh', ['-c', 'exit 3']).catch((e: unknown) => e)) as HostCommandError;
    expect(error).toMatchObject({ command: 'sh', argv: ['sh', '-c', 'exit 3'], exitStatus: 3, signal: undefined, timedOut: false });
  });

  it('keeps the signal of a killed command', async () => {
    const error = (await run('sh', ['-c', 'kill -KILL $$']).catch((e: unknown) => e)) as HostCommandError;
    expect(error).toMatchObject({ argv: ['sh', '-c', 'kill -KILL $$'], exitStatus: undefined, signal: 'SIGKILL', timedOut: false });
  });

  it('says when a command was killed for running past its timeout', async () => {
    const error = (await run('sleep', ['5'], { timeoutMs: 100 }).catch((e: unknown) => e)) as HostCommandError;
    expect(error).toMatchObject({ argv: ['sleep', '5'], timedOut: true, signal: 'SIGTERM' });
  });

  it('says the command printed more than it may keep, not the complaint of its closed pipe', async () => {
    const error = (await run('head', ['-c', '5000', '/dev/zero'], { binary: true, maxBufferBytes: 1000 }).catch((e: unknown) => e)) as HostCommandError;
    expect(error).toBeInstanceOf(HostCommandError);
    expect(error.message).toBe('head -c 5000 /dev/zero: printed more than 1000 bytes, the most kept');
  });

  it('says which package to install when the command is missing', async () => {
    const error = (await run('definitely-not-a-banger-tool', []).catch((e: unknown) => e)) as HostCommandError;
    expect(error.message).toBe('definitely-not-a-banger-tool: command not found');
    expect(error.hint).toContain('install');
    expect(error).toMatchObject({ argv: ['definitely-not-a-banger-tool'], exitStatus: undefined, timedOut: false });
  });

  it('streams lines as they are printed', async () => {
    const lines: string[] = [];
    await run('sh', ['-c', 'printf "a\\nb\\nc"'], { onLine: (l) => lines.push(l) });
    expect(lines).toEqual(['a', 'b', 'c']);
  });

  it('keeps binary stdout as exact bytes', async () => {
    const result = await run('printf', ['\\377\\000ab'], { binary: true });
    expect(result.stdoutBuffer).toEqual(Buffer.from([0xff, 0x00, 0x61, 0x62]));
  });

  it('returns a failing result instead of throwing when asked to', async () => {
    expect((await run('sh', ['-c', 'exit 4'], { allowFailure: true })).exitCode).toBe(4);
  });
});

describe('host facts', () => {
  it('finds executables in sbin directories even when PATH lacks them', () => {
    expect(findExecutable('mkfs.ext4', '')).toBe('/usr/sbin/mkfs.ext4');
  });

  it('reads the TSC frequency in kHz from cpuinfo', () => {
    expect(hostTscKhz('processor\t: 0\ncpu MHz\t\t: 2096.010\n')).toBe(2096010);
    expect(hostTscKhz('nothing here')).toBeUndefined();
  });
});
