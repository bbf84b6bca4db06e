import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as errors from './index.js';
import {
  BangerError,
  CancelledError,
  ConflictError,
  ExitCode,
  ExitError,
  HostCommandError,
  InternalError,
  NotFoundError,
  STDERR_TAIL,
  UserError,
  formatError,
  fromWireError,
  toWireError,
} from './index.js';
import { workspaceRoot } from './__fixtures__/product-sources.js';

describe('errors', () => {
  it('formats a user error as one line with its hint', () => {
    const error = new UserError('CONFIG_UNKNOWN_KEY', 'config.toml: unknown key "vcpus"', { hint: 'did you mean "vcpu"?' });
    expect(formatError(error)).toBe('banger: config.toml: unknown key "vcpus" (hint: did you mean "vcpu"?)');
    expect(error.exitCode).toBe(ExitCode.usage);
  });

  it('shows control characters from a message or hint as escapes, so a name cannot drive the terminal', () => {
    const error = new UserError('VM_NOT_FOUND', 'no VM named "\u001b]0;pwned\u0007x"', { hint: 'see banger vm list\u001b[2J' });
    expect(formatError(error)).toBe('banger: no VM named "\\x1b]0;pwned\\x07x" (hint: see banger vm list\\x1b[2J)');
  });

  it('folds a multi-line message into one line', () => {
    expect(formatError(new Error('first\n  second'))).toBe('banger: first; second');
  });

  it('round-trips a typed error over the wire with class, code, hint and exit code', () => {
    const wire = JSON.parse(JSON.stringify(toWireError(new ConflictError('VM_EXISTS', 'vm "a" exists', { hint: 'pick another name' }))));
    const back = fromWireError(wire);
    expect(back).toBeInstanceOf(ConflictError);
    expect(back).toMatchObject({ code: 'VM_EXISTS', message: 'vm "a" exists', hint: 'pick another name', exitCode: 1 });
  });

  it('turns an unknown thrown value into an internal error on the wire', () => {
    const back = fromWireError(toWireError(new TypeError('boom')));
    expect(back).toBeInstanceOf(InternalError);
    expect(back.exitCode).toBe(125);
  });

  it('shows the cause chain only in debug mode', () => {
    const error = new InternalError('INTERNAL', 'outer', { cause: new Error('inner') });
    expect(formatError(error)).not.toContain('inner');
    expect(formatError(error, { debug: true })).toContain('inner');
  });
});

/** JSON there and back, as over the daemon socket. */
const overTheSocket = (error: unknown) => fromWireError(JSON.parse(JSON.stringify(toWireError(error))));

describe('every error class survives the socket', () => {
  const cases: Array<[string, BangerError, new (...args: never[]) => BangerError]> = [
    ['BangerError', new BangerError('INTERNAL', 'plain', { hint: 'h', exitCode: 3 }), BangerError],
    ['UserError', new UserError('CONFIG_BAD_VALUE', 'bad', { hint: 'fix it' }), UserError],
    ['NotFoundError', new NotFoundError('VM_NOT_FOUND', 'no vm a'), NotFoundError],
    ['ConflictError', new ConflictError('VM_EXISTS', 'vm a exists'), ConflictError],
    ['InternalError', new InternalError('DB_TOO_NEW', 'newer db'), InternalError],
    ['CancelledError', new CancelledError('stopped', { hint: 'again' }), CancelledError],
    [
      'HostCommandError',
      new HostCommandError('mkfs.ext4', 'mkfs.ext4 -d x: no space', { argv: ['mkfs.ext4', '-d', 'x', 'img'], stderr: 'no space\n', exitStatus: 1, hint: 'free space' }),
      HostCommandError,
    ],
    ['HostCommandError (killed)', new HostCommandError('qemu', 'qemu: timed out', { signal: 'SIGKILL', timedOut: true }), HostCommandError],
  ];

  for (const [label, error, Class] of cases) {
    it(`${label} comes back as the same class with the same fields`, () => {
      const back = overTheSocket(error) as BangerError;
      expect(back).toBeInstanceOf(Class);
      expect(back.constructor).toBe(error.constructor);
      const fields = (e: BangerError) => ({ ...e, name: e.name, message: e.message });
      expect(fields(back)).toEqual(fields(error));
    });
  }

  it('covers every class @banger/errors exports', () => {
    const exported = Object.entries(errors).filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error);
    const covered = [...new Set(cases.map(([, e]) => e.constructor.name)), 'ExitError'];
    expect(exported.map(([name]) => name).sort()).toEqual(covered.sort());
  });

  it('passes an ExitError (a status, not a failure) through unchanged', () => {
    const back = overTheSocket(new ExitError(42));
    expect(back).toBeInstanceOf(ExitError);
    expect(back).toMatchObject({ exitCode: 42, message: 'exit 42' });
  });

  it('keeps the argv, exit status, signal and timeout of a failed host command', () => {
    const back = overTheSocket(new HostCommandError('ip', 'ip link: busy', { argv: ['ip', 'link', 'add'], exitStatus: 2, signal: undefined })) as HostCommandError;
    expect(back).toMatchObject({ command: 'ip', argv: ['ip', 'link', 'add'], exitStatus: 2, signal: undefined, timedOut: false, code: 'HOST_COMMAND_FAILED', exitCode: 125 });
  });

  it('sends only the tail of a long stderr', () => {
    const back = overTheSocket(new HostCommandError('tar', 'tar: failed', { stderr: `${'x'.repeat(STDERR_TAIL)}last line` })) as HostCommandError;
    expect(back.stderr).toHaveLength(STDERR_TAIL);
    expect(back.stderr.endsWith('last line')).toBe(true);
  });

  it('rebuilds a subclass from another lib as its nearest class here, still named as thrown', () => {
    class SshWaitTimeoutError extends InternalError {}
    class FirecrackerApiError extends HostCommandError {}
    const timeout = overTheSocket(new SshWaitTimeoutError('SSH_WAIT_TIMEOUT', 'ssh not ready'));
    expect(timeout).toBeInstanceOf(InternalError);
    expect(timeout).toMatchObject({ name: 'SshWaitTimeoutError', code: 'SSH_WAIT_TIMEOUT', exitCode: 125 });
    const api = overTheSocket(new FirecrackerApiError('firecracker', 'PUT /boot-source failed', { argv: ['firecracker'] }));
    expect(api).toBeInstanceOf(HostCommandError);
    expect(api).toMatchObject({ name: 'FirecrackerApiError', command: 'firecracker' });
  });
});

describe('exit codes', () => {
  it('are all documented in docs/exit-codes.md', () => {
    const doc = readFileSync(join(workspaceRoot(), 'docs/exit-codes.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `(\d+)` \|/gm)].map((m) => Number(m[1])));
    expect(Object.values(ExitCode).filter((code) => !documented.has(code))).toEqual([]);
  });

  it('ends a cancelled run with 130, like a shell after Ctrl-C', () => {
    expect(new CancelledError().exitCode).toBe(ExitCode.cancelled);
    expect(ExitCode.cancelled).toBe(130);
  });
});
