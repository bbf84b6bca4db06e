import { BangerError, CancelledError, ConflictError, InternalError, NotFoundError, UserError } from './banger-error.js';

/** The JSON form of an error as it crosses the daemon socket. */
export interface WireError {
  name: string;
  code: string;
  message: string;
  hint?: string | undefined;
  exitCode: number;
  /** Only the message of the cause chain travels; stacks stay in the daemon log. */
  causes?: string[] | undefined;
}

const classes: Record<string, new (code: string, message: string, o?: { hint?: string; exitCode?: number }) => BangerError> = {
  UserError,
  NotFoundError,
  ConflictError,
  InternalError,
};

/** Serialises any thrown value for the wire. Unknown errors become internal ones. */
export function toWireError(error: unknown): WireError {
  const causes = causeMessages(error);
  if (error instanceof BangerError) {
    return { name: error.name, code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode, causes };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'InternalError', code: 'INTERNAL', message, exitCode: 125, causes };
}

/** Rebuilds a typed error from its wire form, so the CLI handles it like a local one. */
export function fromWireError(wire: WireError): BangerError {
  if (wire.name === 'CancelledError') return new CancelledError(wire.message, { hint: wire.hint, exitCode: wire.exitCode });
  const Class = classes[wire.name] ?? BangerError;
  const error = new Class(wire.code, wire.message, { hint: wire.hint, exitCode: wire.exitCode });
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
