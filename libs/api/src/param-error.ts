import { UserError } from '@banger/errors';
import type * as z from 'zod';

/**
 * A request whose parameters break the method's schema, as one line naming
 * the parameter: `vm.show: name must not be empty`. What the user typed is
 * at fault (an empty or overlong name), so it is a UserError (exit 1).
 */
export function invalidParamsError(method: string, error: z.ZodError): UserError {
  const issue = error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'params';
  return new UserError('API_INVALID_PARAMS', `${method}: ${field} ${describe(issue)}`);
}

function describe(issue: z.core.$ZodIssue | undefined): string {
  if (!issue) return 'is invalid';
  if (issue.code === 'too_small' && issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
  if (issue.code === 'too_big' && issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
  return `is invalid: ${issue.message}`;
}
