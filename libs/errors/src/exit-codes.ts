/**
 * Exit codes of `banger`. A user's command run through `vm run`/`vm ssh` passes
 * its own status through unchanged, so banger keeps to the codes `docker run`
 * made familiar for its own failures. Documented in docs/exit-codes.md.
 */
export const ExitCode = {
  /** Everything worked. */
  ok: 0,
  /** Bad usage or bad input from the user (flags, config, names, paths). */
  usage: 1,
  /** banger itself (CLI or daemon) failed. */
  internal: 125,
  /** The command given after `--` exists but could not be executed. */
  cannotExecute: 126,
  /** The command given after `--` was not found in the guest. */
  notFound: 127,
  /** Cancelled by Ctrl-C (SIGINT) or an abort: 128 + SIGINT(2), what a shell reports. */
  cancelled: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
