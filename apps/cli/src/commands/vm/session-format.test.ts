import { describe, expect, it } from 'vitest';
import { sessionScope } from '../../completion/complete-words.js';
import { formatSessionTable, parseSessionName, parseSignal, parseTimeout, sessionExitStatus, sessionState } from './session-format.js';

describe('session states, as list shows them', () => {
  it('says running, exited N, killed by SIG', () => {
    expect(sessionState({ state: 'running', code: null, signal: null })).toBe('running');
    expect(sessionState({ state: 'exited', code: 3, signal: null })).toBe('exited 3');
    expect(sessionState({ state: 'exited', code: null, signal: 'SIGTERM' })).toBe('killed by SIGTERM');
    expect(sessionExitStatus({ code: 3, signal: null })).toBe(3);
    expect(sessionExitStatus({ code: null, signal: 'SIGKILL' })).toBe(137);
  });

  it('prints one row per session with its command', () => {
    const table = formatSessionTable([
      { vm: 'web', name: 'dev', argv: ['npm', 'run', 'dev'], cwd: '/root', tty: false, pid: 42, startedAt: '2026-12-04T15:00:00.123Z', state: 'running', code: null, signal: null, outputBytes: 2048, keptBytes: 2048 },
    ]);
    expect(table.split('\n')[0]).toMatch(/^VM\s+NAME\s+STATE\s+PID\s+STARTED\s+OUTPUT\s+COMMAND$/);
    expect(table.split('\n')[1]).toMatch(/^web\s+dev\s+running\s+42\s+2026-12-04T15:00:00Z\s+\S+.*npm run dev$/);
  });
});

describe('session option values', () => {
  it('takes signals by name, short name or number', () => {
    expect(parseSignal('TERM')).toBe('SIGTERM');
    expect(parseSignal('sigint')).toBe('SIGINT');
    expect(parseSignal('9')).toBe('SIGKILL');
    expect(() => parseSignal('NOPE')).toThrow('"NOPE" is not a signal');
  });

  it('takes timeouts in seconds or ms', () => {
    expect(parseTimeout('10')).toBe(10_000);
    expect(parseTimeout('2.5s')).toBe(2_500);
    expect(parseTimeout('500ms')).toBe(500);
    expect(() => parseTimeout('soon')).toThrow('"soon" is not a duration');
  });

  it('checks session names', () => {
    expect(parseSessionName('dev-server_1.2')).toBe('dev-server_1.2');
    for (const bad of ['', '-x', 'a/b', '..', 'x'.repeat(64)]) expect(() => parseSessionName(bad)).toThrow('is not a session name');
  });
});

describe('which VM a session name is completed for', () => {
  it('is the first word after the session subcommand', () => {
    expect(sessionScope(['vm', 'session', 'logs', 'web', ''])).toEqual({ vm: 'web' });
    expect(sessionScope(['vm', 'session', 'logs', '-f', 'web', 'de'])).toEqual({ vm: 'web' });
    expect(sessionScope(['vm', 'session', 'logs', ''])).toEqual({});
    expect(sessionScope(['vm', 'ssh', ''])).toEqual({});
  });
});
