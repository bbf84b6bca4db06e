import { CancelledError, InternalError } from '@banger/errors';
import { shellQuote } from '@banger/ssh';
import type { Step, StepLogger } from '@banger/taskgraph';
import { interpretBranchResult, workspaceGitCommands } from './git-branch.js';
import type { GuestExec } from './guest-exec.js';
import type { WorkspaceInfo } from './inspect.js';
import { listWorkspace } from './list-files.js';
import { buildManifest, diffManifests, type Manifest } from './manifest.js';
import { readManifest, writeManifest } from './manifest-file.js';
import { miseBootstrapCommand, miseCommandPrefix, miseLockPath, miseLogPath } from './mise/bootstrap.js';
import { syncWorkspace } from './sync.js';

/** What the workspace steps of one run are asked to do. */
export interface WorkspaceStepsOptions {
  info: WorkspaceInfo;
  /** Where this VM's manifest of this repository is kept (host side, in the VM's directory). */
  manifestPath: string;
  /** Runs commands in the guest; connects lazily (the steps may all be skipped). */
  exec: GuestExec;
  /** `--branch` / `--from`. */
  branch?: string;
  from?: string;
  /** The steps the first workspace step waits for, e.g. `vm.wait-ssh`. */
  needs: readonly string[];
  log?: StepLogger;
  /** Which way `exec` took, said in the sync step's summary line and the outcome; unknown when absent. */
  via?: () => Promise<'agent' | 'ssh' | undefined>;
}

/** What the workspace steps did, for the run's result (filled while they run). */
export interface WorkspaceOutcome {
  transferred: { files: number; bytes: number };
  deleted: string[];
  /** True when the sync step was skipped: the guest copy already matched. */
  unchanged: boolean;
  /** Which way the sync went (WorkspaceStepsOptions.via), when it ran. */
  via?: 'agent' | 'ssh';
  branch?: { name: string; from: string };
  /**
   * The tooling bootstrap: started now (or earlier, for an unchanged
   * workspace), its log, and the shell prefix a command runs after (waits for
   * the bootstrap, then mise's shims first on PATH).
   */
  mise?: { started: boolean; log: string; commandPrefix: string; detail: string };
}

/** The steps and a view of their outcome once the graph has run. */
export interface WorkspaceSteps {
  steps: Step[];
  outcome(): WorkspaceOutcome;
}

/**
 * The workspace part of a VM's graph (`vm run ./repo`):
 *
 * - `workspace.sync`: only the files changed since the last sync to this VM,
 *   deletions included (the manifest of what was sent is kept host-side).
 *   Satisfied when the repository matches the manifest and the guest copy
 *   still exists (probed with one `test -d`), so a repeated run with nothing
 *   changed skips it without sending anything;
 * - `workspace.branch` (`--branch B --from REF`): checked out again whenever
 *   the sync ran, since a sync brings the host's HEAD back;
 * - `vm.bootstrap-mise` (when the repository has a mise config): `mise trust`
 *   + `mise install` started detached in the guest; best effort — a failure
 *   is reported in the outcome, never fatal.
 *
 * `--branch`/`--from` are validated here, before any step exists.
 */
export function workspaceSteps(options: WorkspaceStepsOptions): WorkspaceSteps {
  const { info, exec } = options;
  const branchOptions = options.branch !== undefined ? { branch: options.branch, from: options.from ?? 'HEAD' } : undefined;
  // Validates the names (a UserError for `--from` alone or a name starting with "-").
  workspaceGitCommands(info.guestDir, { ...(options.branch !== undefined ? { branch: options.branch } : {}), ...(options.from !== undefined ? { from: options.from } : {}) });
  const outcome: WorkspaceOutcome = { transferred: { files: 0, bytes: 0 }, deleted: [], unchanged: true };
  const logPath = miseLogPath(info.repoName);
  const commandPrefix = miseCommandPrefix(miseLockPath(info.repoName));
  const guestCopyExists = async (signal: AbortSignal): Promise<boolean> => (await exec(`test -d ${shellQuote(info.guestDir)}/.git`, { signal })).exitCode === 0;

  const steps: Step[] = [
    {
      id: 'workspace.sync',
      title: `Sync ${info.repoName} into ${info.guestDir}`,
      needs: options.needs,
      inputs: () => ({ repoDir: info.repoDir, guestDir: info.guestDir }),
      isSatisfied: async (ctx) => {
        const previous = await readManifest(options.manifestPath);
        if (!previous) return { satisfied: false, reason: 'first sync to this VM' };
        const diff = diffManifests(previous, await manifestOf(info.repoDir, previous));
        if (diff.changed.length + diff.deleted.length > 0) return { satisfied: false, reason: `${diff.changed.length} changed, ${diff.deleted.length} deleted` };
        try {
          if (!(await guestCopyExists(ctx.signal))) return { satisfied: false, reason: `${info.guestDir} is missing in the guest: copying everything again` };
        } catch (error) {
          if (error instanceof CancelledError) throw error;
          return { satisfied: false, reason: `cannot reach the guest (${(error as Error).message})` };
        }
        return true;
      },
      run: async (ctx, report) => {
        let previous: Manifest | undefined = await readManifest(options.manifestPath);
        // Someone may have removed the copy in the guest: then everything is sent again.
        if (previous && !(await guestCopyExists(ctx.signal))) previous = undefined;
        const result = await syncWorkspace({ exec, repoDir: info.repoDir, guestDir: info.guestDir, ...(previous ? { previous } : {}), signal: ctx.signal, progress: report });
        await writeManifest(options.manifestPath, result.manifest);
        outcome.transferred = result.transferred;
        outcome.deleted = result.deleted;
        outcome.unchanged = false;
        const via = await options.via?.();
        if (via) outcome.via = via;
        report.line(`sent ${result.transferred.files} files (${result.transferred.bytes} bytes), deleted ${result.deleted.length}${via === 'agent' ? ', through the guest agent' : via ? ` over ${via}` : ''}`);
        return { files: result.transferred.files, bytes: result.transferred.bytes, deleted: result.deleted.length, ...(via ? { via } : {}) };
      },
      hint: 'check free space on the guest work disk (banger vm ssh <vm> -- df -h /root)',
    },
  ];
  if (branchOptions) {
    outcome.branch = { name: branchOptions.branch, from: branchOptions.from };
    steps.push({
      id: 'workspace.branch',
      title: `Check out branch ${branchOptions.branch} from ${branchOptions.from}`,
      needs: ['workspace.sync'],
      inputs: () => ({ branch: branchOptions.branch, from: branchOptions.from }),
      // Re-run whenever the sync ran (the engine's "dependency re-ran"); otherwise the guest copy is still on it.
      isSatisfied: () => true,
      run: async (ctx) => {
        const script = workspaceGitCommands(info.guestDir, branchOptions);
        if (script) interpretBranchResult(await exec(script, { signal: ctx.signal }), branchOptions);
        return { branch: branchOptions.branch };
      },
    });
  }
  if (info.miseConfig) {
    steps.push({
      id: 'vm.bootstrap-mise',
      title: 'Start the mise tooling bootstrap (background)',
      needs: branchOptions ? ['workspace.branch'] : ['workspace.sync'],
      inputs: () => ({ guestDir: info.guestDir }),
      isSatisfied: () => true,
      run: async (ctx, report) => {
        // Best effort by contract: any failure here is reported and the run goes on.
        try {
          const result = await exec(miseBootstrapCommand({ repoName: info.repoName, guestDir: info.guestDir }), { signal: ctx.signal });
          if (result.exitCode !== 0) {
            throw new InternalError('WORKSPACE_MISE_FAILED', result.stderr.trim().split('\n').at(-1) || `exit status ${result.exitCode ?? result.signal}`);
          }
          outcome.mise = { started: true, log: logPath, commandPrefix, detail: `mise trust + mise install running in the background; log: ${logPath}` };
        } catch (error) {
          if (ctx.signal.aborted) throw error;
          outcome.mise = { started: false, log: logPath, commandPrefix, detail: `mise bootstrap not started: ${(error as Error).message}` };
          options.log?.warn({ err: error }, 'mise bootstrap not started');
        }
        report.line(outcome.mise.detail);
        return { started: outcome.mise.started };
      },
    });
  }
  return {
    steps,
    outcome: () => ({
      ...outcome,
      ...(info.miseConfig && !outcome.mise ? { mise: { started: false, log: logPath, commandPrefix, detail: 'unchanged workspace: the bootstrap already ran for it' } } : {}),
    }),
  };
}

/** The workspace as a manifest now (one listing, its lstats reused). */
async function manifestOf(repoDir: string, previous: Manifest | undefined): Promise<Manifest> {
  const { files, stats } = await listWorkspace(repoDir);
  return buildManifest(repoDir, files, previous, stats);
}
