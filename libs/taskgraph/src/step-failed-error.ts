import { BangerError, ExitCode } from '@banger/errors';

/**
 * A step of a task graph failed. The message names the step; code, hint and
 * exit code are the step error's own when it was a `BangerError` (so a
 * `UserError` inside a step still exits 1), with the step's `hint` as fallback.
 */
export class StepFailedError extends BangerError {
  readonly stepId: string;

  constructor(stepId: string, cause: unknown, fallbackHint?: string) {
    const typed = cause instanceof BangerError ? cause : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    super(typed?.code ?? 'STEP_FAILED', `${stepId} failed: ${message}`, {
      cause,
      hint: typed?.hint ?? fallbackHint,
      exitCode: typed?.exitCode ?? ExitCode.internal,
    });
    this.stepId = stepId;
  }
}
