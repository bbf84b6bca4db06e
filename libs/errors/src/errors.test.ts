import { describe, expect, it } from 'vitest';
import { ConflictError, ExitCode, InternalError, UserError, formatError, fromWireError, toWireError } from './index.js';

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
    const error = new InternalError('X', 'outer', { cause: new Error('inner') });
    expect(formatError(error)).not.toContain('inner');
    expect(formatError(error, { debug: true })).toContain('inner');
  });
});
