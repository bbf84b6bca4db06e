import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '@banger/errors';
import { createContext, type CliContext } from '../../context.js';
import { daemonLogsCommand } from './logs.js';

let home: string;
let out: string;
let controller: AbortController;
let ctx: CliContext;
const logFile = (): string => join(home, 'state', 'bangerd.log');
const line = (msg: string): string => `${JSON.stringify({ level: 'info', time: '2026-11-30T01:00:00.000Z', msg })}\n`;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'banger-logs-'));
  out = '';
  const stdout = new PassThrough();
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  controller = new AbortController();
  ctx = createContext({ stdout, stderr: new PassThrough(), env: { HOME: home, BANGER_HOME: home } }, controller.signal);
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
};

describe('banger daemon logs', () => {
  it('says there is no log yet instead of printing nothing', async () => {
    await expect(daemonLogsCommand(ctx, {})).rejects.toBeInstanceOf(NotFoundError);
  });

  it('prints only the last N lines with -n', async () => {
    mkdirSync(join(home, 'state'), { recursive: true });
    writeFileSync(logFile(), line('one') + line('two') + line('three'));
    await daemonLogsCommand(ctx, { lines: 2 });
    expect(out).toBe('2026-11-30 01:00:00.000 INFO  two\n2026-11-30 01:00:00.000 INFO  three\n');
  });

  it('follows new lines, also across a rotation, until cancelled', async () => {
    mkdirSync(join(home, 'state'), { recursive: true });
    writeFileSync(logFile(), line('before'));
    const following = daemonLogsCommand(ctx, { follow: true, raw: true });
    await until(() => out.includes('before'));
    appendFileSync(logFile(), line('appended'));
    await until(() => out.includes('appended'));
    renameSync(logFile(), `${logFile()}.1`);
    writeFileSync(logFile(), line('rotated'));
    await until(() => out.includes('rotated'));
    controller.abort();
    await following;
    expect(out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['before', 'appended', 'rotated']);
  });
});
