import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rotateIfLarge } from './logger.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bangerd-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the daemon log rotation', () => {
  it('moves a log past the limit to <log>.1, replacing the previous one, and leaves a small one alone', () => {
    const log = join(dir, 'bangerd.log');
    writeFileSync(`${log}.1`, 'older\n');
    writeFileSync(log, 'x'.repeat(2_000));
    expect(rotateIfLarge(log, 1_000)).toBe(true);
    expect(existsSync(log)).toBe(false);
    expect(readFileSync(`${log}.1`, 'utf8')).toBe('x'.repeat(2_000));
    writeFileSync(log, 'small\n');
    expect(rotateIfLarge(log, 1_000)).toBe(false);
    expect(readFileSync(log, 'utf8')).toBe('small\n');
    expect(rotateIfLarge(join(dir, 'missing.log'), 1_000)).toBe(false);
  });
});
