import { describe, expect, it } from 'vitest';
import { prettyLogLine } from './pretty-log-line.js';

describe('prettyLogLine', () => {
  it('shows time, level, message and the extra fields of a pino line', () => {
    const line = JSON.stringify({ level: 'info', time: '2026-11-30T01:42:33.123Z', pid: 7, msg: 'bangerd started', version: '0.1.0', socket: '/run/b.sock' });
    expect(prettyLogLine(line, { color: false })).toBe('2026-11-30 01:42:33.123 INFO  bangerd started version=0.1.0 socket=/run/b.sock');
  });

  it('shows an error by its message and quotes values with spaces', () => {
    const line = JSON.stringify({ level: 50, time: 0, msg: 'request failed', method: 'vm.create', err: { type: 'Error', message: 'disk full', stack: '…' } });
    expect(prettyLogLine(line, { color: false })).toBe('1970-01-01 00:00:00.000 ERROR request failed method=vm.create err="disk full"');
  });

  it('colours the level only when asked', () => {
    expect(prettyLogLine('{"level":"warn","msg":"x"}', { color: true })).toBe('\x1b[33mWARN \x1b[0m x');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(prettyLogLine('node:internal/process: Error: boom', { color: false })).toBe('node:internal/process: Error: boom');
  });
});
