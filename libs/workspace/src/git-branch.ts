import { UserError } from '@banger/errors';
import { shellQuote } from '@banger/ssh';
import type { GuestExecResult } from './guest-exec.js';

/** `vm run ./repo --branch B [--from REF]`. */
export interface WorkspaceBranch {
  /** The branch the guest copy ends up on. */
  branch?: string;
  /** Where it starts (default HEAD, i.e. the host's current commit). */
  from?: string;
}

// Distinct statuses let interpretBranchResult name the culprit precisely.
const BAD_BRANCH = 90;
const NO_SUCH_REF = 91;
const CHECKOUT_FAILED = 92;

/**
 * The guest command that puts the synced copy at `guestDir` on branch
 * `branch` starting at `from` (default HEAD), with `git checkout -B`
 * semantics: the branch is created, or reset to `from` if the host repository
 * already had one of that name. Uncommitted changes synced from the host are
 * carried over when they do not conflict (git's own rule); otherwise the
 * checkout fails and nothing changes. Undefined when no branch was asked for.
 * `from` without `branch` is a UserError. Run it after every sync (a re-sync
 * brings the host's HEAD back), then pass the result to interpretBranchResult.
 */
export function workspaceGitCommands(guestDir: string, options: WorkspaceBranch): string | undefined {
  if (options.branch === undefined) {
    if (options.from !== undefined) {
      throw new UserError('WORKSPACE_FROM_WITHOUT_BRANCH', `--from ${options.from}: needs --branch`, {
        hint: 'name the branch to create: --branch <name> --from <ref>',
      });
    }
    return undefined;
  }
  // A leading "-" would be read as an option by git; no real branch or ref starts with one.
  if (options.branch.startsWith('-')) {
    throw new UserError('WORKSPACE_BAD_BRANCH', `--branch ${options.branch}: not a valid branch name`, { hint: 'branch names cannot start with "-"' });
  }
  if (options.from?.startsWith('-')) {
    throw new UserError('WORKSPACE_NO_SUCH_REF', `--from ${options.from}: not a commit reference`, { hint: 'refs cannot start with "-"' });
  }
  const branch = shellQuote(options.branch);
  const from = shellQuote(options.from ?? 'HEAD');
  return [
    `cd -- ${shellQuote(guestDir)} || exit ${CHECKOUT_FAILED}`,
    `git check-ref-format --branch ${branch} >/dev/null 2>&1 || exit ${BAD_BRANCH}`,
    `git rev-parse --verify --quiet --end-of-options ${shellQuote(`${options.from ?? 'HEAD'}^{commit}`)} >/dev/null || exit ${NO_SUCH_REF}`,
    `git checkout -q -B ${branch} ${from} -- || exit ${CHECKOUT_FAILED}`,
  ].join('\n');
}

/** Turns the result of workspaceGitCommands' script into nothing (success) or a UserError naming the culprit. */
export function interpretBranchResult(result: GuestExecResult, options: WorkspaceBranch): void {
  if (result.exitCode === 0) return;
  const from = options.from ?? 'HEAD';
  if (result.exitCode === BAD_BRANCH) {
    throw new UserError('WORKSPACE_BAD_BRANCH', `--branch ${options.branch}: not a valid branch name`, {
      hint: 'see `git check-ref-format --help` for the rules',
    });
  }
  if (result.exitCode === NO_SUCH_REF) {
    throw new UserError('WORKSPACE_NO_SUCH_REF', `--from ${from}: no such commit in the repository`, {
      hint: 'use a branch, tag or commit that exists in the host repository (git log --oneline)',
    });
  }
  const why = result.stderr.trim().split('\n').at(-1) || `exit status ${result.exitCode ?? result.signal}`;
  throw new UserError('WORKSPACE_CHECKOUT_FAILED', `--branch ${options.branch} --from ${from}: git checkout failed in the guest: ${why}`, {
    hint: 'commit or stash the conflicting host changes, or pick another --from',
  });
}
