import type { ErrorCode } from './codes.js';
import { ExitCode } from './exit-codes.js';

export interface BangerErrorOptions {
  /** What the user can do about it; printed as `(hint: …)`. */
  hint?: string;
  /** The lower-level error this one explains. Kept for `BANGER_DEBUG=1`. */
  cause?: unknown;
  /** Exit status the CLI should end with. Defaults per class. */
  exitCode?: number;
}

/**
 * The one error shape banger shows users. `message` reads as
 * "<what failed>: <why>"; `code` is a stable machine-readable id
 * (`CONFIG_UNKNOWN_KEY`, `VM_NOT_FOUND`, …, registered in codes.ts) that survives the trip over the
 * daemon socket, so the CLI can map it back to the same class and exit code.
 */
export class BangerError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: BangerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true });
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.internal;
  }
}

/** Something the user asked for or wrote is wrong: bad flag, bad config, unknown name. Exit 1. */
export class UserError extends BangerError {
  constructor(code: ErrorCode, message: string, options: BangerErrorOptions = {}) {
    super(code, message, { ...options, exitCode: options.exitCode ?? ExitCode.usage });
  }
}

/** A resource the user named does not exist (VM, image, kernel). Exit 1. */
export class NotFoundError extends UserError {}

/** The request conflicts with existing state (duplicate name, image in use). Exit 1. */
export class ConflictError extends UserError {}

/** banger or a host tool it drives failed. Exit 125. */
export class InternalError extends BangerError {}

/** What a failed host command left behind, beyond its message. */
export interface HostCommandFacts {
  /** The command line as run, program first (without a `sudo -n --` wrapper). */
  argv?: readonly string[];
  /** Its stderr (empty when it never started). */
  stderr?: string;
  /** Its exit status, when it exited on its own. */
  exitStatus?: number;
  /** The signal that ended it (`SIGKILL`), when one did. */
  signal?: string;
  /** Whether banger killed it for running past its timeout. */
  timedOut?: boolean;
}

/**
 * A host command (ip, nft, mkfs.ext4, qemu…) failed or is missing. Exit 125.
 * Keeps argv, exit status, signal and timeout so a caller (or the CLI, after
 * the socket) can tell "not installed" from "killed" from "said no".
 */
export class HostCommandError extends BangerError {
  readonly command: string;
  readonly argv: string[];
  readonly stderr: string;
  readonly exitStatus: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  constructor(command: string, message: string, options: BangerErrorOptions & HostCommandFacts = {}) {
    super('HOST_COMMAND_FAILED', message, options);
    this.command = command;
    this.argv = options.argv ? [...options.argv] : [command];
    this.stderr = options.stderr ?? '';
    this.exitStatus = options.exitStatus;
    this.signal = options.signal;
    this.timedOut = options.timedOut ?? false;
  }
}

/** The work was cancelled (Ctrl-C, abort signal). Exit 130 like a shell. */
export class CancelledError extends BangerError {
  constructor(message = 'cancelled', options: BangerErrorOptions = {}) {
    super('CANCELLED', message, { ...options, exitCode: options.exitCode ?? ExitCode.cancelled });
  }
}

/**
 * Not a failure: ends the CLI with a given status, e.g. the status of the
 * user's command in the guest. The top-level handler prints nothing for it.
 */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    Object.defineProperty(this, 'name', { value: 'ExitError', enumerable: false, configurable: true });
    this.exitCode = exitCode;
  }
}

export const isBangerError = (error: unknown): error is BangerError => error instanceof BangerError;
