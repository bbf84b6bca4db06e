import { BangerError, CancelledError, ConflictError, ExitError, HostCommandError, InternalError, NotFoundError, UserError, type BangerErrorOptions } from './banger-error.js';
import type { ErrorCode } from './codes.js';

/** The JSON form of an error as it crosses the daemon socket. */
export interface WireError {
  /** The class it was thrown as (may be a subclass from another lib, e.g. `SshWaitTimeoutError`). */
  name: string;
  /** The nearest class of this lib, rebuilt when `name` is one the receiver cannot build. */
  kind?: string | undefined;
  code: string;
  message: string;
  hint?: string | undefined;
  exitCode: number;
  /** Only the message of the cause chain travels; stacks stay in the daemon log. */
  causes?: string[] | undefined;
  /** A HostCommandError's facts. */
  host?: WireHostCommand | undefined;
}

export interface WireHostCommand {
  command: string;
  argv: string[];
  /** The tail only (STDERR_TAIL characters): the whole of it is in the daemon log. */
  stderr: string;
  exitStatus?: number | undefined;
  signal?: string | undefined;
  timedOut: boolean;
}

/** How much of a failed command's stderr crosses the socket: enough for its last lines, never megabytes. */
export const STDERR_TAIL = 8192;

/** Most specific first: the first class an error is an instance of is its `kind` (names spelt out: a bundler may rename classes). */
const kinds: ReadonlyArray<readonly [abstract new (...args: never[]) => BangerError, string]> = [
  [CancelledError, 'CancelledError'],
  [HostCommandError, 'HostCommandError'],
  [NotFoundError, 'NotFoundError'],
  [ConflictError, 'ConflictError'],
  [UserError, 'UserError'],
  [InternalError, 'InternalError'],
  [BangerError, 'BangerError'],
];

const options = (wire: WireError): BangerErrorOptions => ({ hint: wire.hint, exitCode: wire.exitCode });
// A code that arrives over the socket was registered in the sender, which runs this same version (hello checks it).
const code = (wire: WireError): ErrorCode => wire.code as ErrorCode;

const builders: Record<string, (wire: WireError) => BangerError> = {
  BangerError: (w) => new BangerError(code(w), w.message, options(w)),
  UserError: (w) => new UserError(code(w), w.message, options(w)),
  NotFoundError: (w) => new NotFoundError(code(w), w.message, options(w)),
  ConflictError: (w) => new ConflictError(code(w), w.message, options(w)),
  InternalError: (w) => new InternalError(code(w), w.message, options(w)),
  CancelledError: (w) => new CancelledError(w.message, options(w)),
  HostCommandError: (w) =>
    new HostCommandError(w.host?.command ?? 'unknown command', w.message, {
      ...options(w),
      ...(w.host ? { argv: w.host.argv, stderr: w.host.stderr, exitStatus: w.host.exitStatus, signal: w.host.signal, timedOut: w.host.timedOut } : {}),
    }),
};

/** Serialises any thrown value for the wire. Unknown errors become internal ones. */
export function toWireError(error: unknown): WireError {
  // Not a failure: a status to end with (a guest command's), which must reach the CLI unchanged.
  if (error instanceof ExitError) return { name: 'ExitError', kind: 'ExitError', code: 'EXIT_STATUS', message: error.message, exitCode: error.exitCode };
  const causes = causeMessages(error);
  if (error instanceof BangerError) {
    const kind = kinds.find(([Class]) => error instanceof Class)?.[1] ?? 'BangerError';
    const wire: WireError = { name: error.name, kind, code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode, causes };
    if (error instanceof HostCommandError) {
      wire.host = {
        command: error.command,
        argv: error.argv,
        stderr: error.stderr.slice(-STDERR_TAIL),
        exitStatus: error.exitStatus,
        signal: error.signal,
        timedOut: error.timedOut,
      };
    }
    return wire;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'InternalError', kind: 'InternalError', code: 'INTERNAL', message, exitCode: 125, causes };
}

/**
 * Rebuilds a typed error from its wire form, so the CLI handles it like a
 * local one: the same class when this lib defines it, else the nearest one
 * (`kind`) still named as thrown, so `instanceof UserError` and the exit code
 * hold for a subclass from a lib the receiver does not load.
 */
export function fromWireError(wire: WireError): BangerError | ExitError {
  if (wire.name === 'ExitError') return new ExitError(wire.exitCode);
  const build = builders[wire.name] ?? (wire.kind ? builders[wire.kind] : undefined) ?? builders['BangerError']!;
  const error = build(wire);
  if (error.name !== wire.name) Object.defineProperty(error, 'name', { value: wire.name, enumerable: false, configurable: true });
  if (wire.causes?.length) Object.defineProperty(error, 'remoteCauses', { value: wire.causes, enumerable: false });
  return error;
}

function causeMessages(error: unknown): string[] {
  const out: string[] = [];
  let current = error instanceof Error ? error.cause : undefined;
  while (current !== undefined && out.length < 8) {
    out.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return out;
}
