import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { SshTargetWire, WorkspaceInfo, WorkspaceSyncResult } from '@banger/api';
import { InternalError, UserError } from '@banger/errors';
import { buildManifest, diffManifests, interpretBranchResult, listWorkspaceFiles, miseBootstrapCommand, miseLogPath, needsMiseBootstrap, readManifest, sshGuestExec, syncWorkspace, workspaceGitCommands, workspaceGuestDir, writeManifest, type GuestExec, type Manifest } from '@banger/workspace';
import { ensureUserKey, openSshSession, shellQuote, type SshSession } from '@banger/ssh';
import { processAlive } from '@banger/hypervisor';
import type { Step } from '@banger/taskgraph';
import { knownHostsPath, userKeyPath, vmDirOf, vmRepository } from '@banger/vm';
import type { DaemonContext } from '../context.js';
import { runGraph } from '../graph-runner.js';
import type { Service } from '../service.js';

/**
 * The graph instance of one repository's sync into one VM. A VM recreated
 * under the same name has no manifest yet, so its first sync runs in full
 * whatever the step state says.
 */
export const workspaceGraphId = (vm: string, repoName: string): string => `workspace:${vm}:${repoName}`;

/**
 * `workspace.*`, what `vm run ./repo` asks the daemon for:
 *
 * - `workspace.inspect`: checks the directory is a git repository's top and
 *   counts what a sync copies, before any VM is created (fail fast);
 * - `workspace.sync`: a task graph over one ssh connection —
 *   `workspace.sync` (only the files changed since the last sync to this VM,
 *   deletions included; the manifest is kept host-side in the VM directory),
 *   `workspace.branch` (`--branch B --from REF`) and `vm.bootstrap-mise`
 *   (`mise trust` + `mise install` started detached in the guest; best
 *   effort: its failure is reported, never fatal). A repeated run with
 *   nothing changed skips every step without touching the guest;
 * - `workspace.ssh-target`: a running VM's address, banger's key and the
 *   VM's pinned host key, for the CLI's own ssh clients.
 */
export const workspaceService: Service = (ctx, server) => {
  const log = ctx.log.child({ service: 'workspace' });
  server.handle('workspace.inspect', ({ repoDir }) => inspectWorkspace(repoDir));
  server.handle('workspace.ssh-target', ({ vm }) => sshTargetOf(ctx, vm));
  server.handle('workspace.sync', async ({ vm, repoDir, branch, from, explain }, { signal, emit }) => {
    // Validated before any ssh: `--from` alone is a user error, like a bad branch name.
    workspaceGitCommands('/root/x', { ...(branch ? { branch } : {}), ...(from ? { from } : {}) });
    const info = await inspectWorkspace(repoDir);
    const target = await sshTargetOf(ctx, vm);
    const manifestPath = vmDirOf(ctx, vm).workspaceManifest(info.repoName);
    let previous = await readManifest(manifestPath);
    let session: Promise<SshSession> | undefined;
    const exec: GuestExec = async (command, io) => {
      session ??= ensureUserKey(target.keyPath).then((key) => openSshSession({ host: target.ip, privateKey: key.privateKey, hostKey: target.hostKey, signal }));
      return sshGuestExec(await session)(command, io);
    };
    // Diffing up front lets the plan skip every step when nothing changed.
    let diff = diffManifests(previous, await buildManifest(info.repoDir, await listWorkspaceFiles(info.repoDir), previous));
    let pending = previous === undefined ? 'first sync to this VM' : diff.changed.length + diff.deleted.length > 0 ? `${diff.changed.length} changed, ${diff.deleted.length} deleted` : undefined;
    const outcome: { transferred: { files: number; bytes: number }; deleted: string[]; mise?: WorkspaceSyncResult['mise'] } = { transferred: { files: 0, bytes: 0 }, deleted: [] };
    const branchOptions = branch ? { branch, from: from ?? 'HEAD' } : undefined;

    const steps: Step[] = [
      {
        id: 'workspace.sync',
        title: `Sync ${info.repoName} into ${info.guestDir}`,
        needs: [],
        inputs: () => ({ repoDir: info.repoDir, guestDir: info.guestDir }),
        isSatisfied: () => (pending ? { satisfied: false, reason: pending } : true),
        run: async (step, report) => {
          const result = await syncWorkspace({ exec, repoDir: info.repoDir, guestDir: info.guestDir, ...(previous ? { previous } : {}), signal: step.signal, progress: report });
          await writeManifest(manifestPath, result.manifest as Manifest);
          outcome.transferred = result.transferred;
          outcome.deleted = result.deleted;
          report.line(`sent ${result.transferred.files} files (${result.transferred.bytes} bytes), deleted ${result.deleted.length}`);
          return { files: result.transferred.files, bytes: result.transferred.bytes, deleted: result.deleted.length };
        },
        hint: 'check free space on the guest work disk (banger vm ssh <vm> -- df -h /root)',
      },
    ];
    if (branchOptions) {
      steps.push({
        id: 'workspace.branch',
        title: `Check out branch ${branchOptions.branch} from ${branchOptions.from}`,
        needs: ['workspace.sync'],
        inputs: () => ({ branch: branchOptions.branch, from: branchOptions.from }),
        // A sync with changes can bring the host's HEAD back: check out again after every one.
        isSatisfied: () => (pending ? { satisfied: false, reason: 'the workspace was re-synced' } : true),
        run: async (step) => {
          const script = workspaceGitCommands(info.guestDir, branchOptions);
          if (script) interpretBranchResult(await exec(script, { signal: step.signal }), branchOptions);
          return { branch: branchOptions.branch };
        },
      });
    }
    if (info.miseConfig) {
      const logPath = miseLogPath(info.repoName);
      steps.push({
        id: 'vm.bootstrap-mise',
        title: 'Start the mise tooling bootstrap (background)',
        needs: branchOptions ? ['workspace.branch'] : ['workspace.sync'],
        inputs: () => ({ guestDir: info.guestDir }),
        isSatisfied: () => (pending ? { satisfied: false, reason: 'the workspace changed' } : true),
        run: async (step, report) => {
          // Best effort by contract: any failure here is reported and the run goes on.
          try {
            const result = await exec(miseBootstrapCommand({ repoName: info.repoName, guestDir: info.guestDir }), { signal: step.signal });
            if (result.exitCode !== 0) throw new InternalError('WORKSPACE_MISE_FAILED', result.stderr.trim().split('\n').at(-1) || `exit status ${result.exitCode ?? result.signal}`);
            outcome.mise = { started: true, log: logPath, detail: `mise trust + mise install running in the background; log: ${logPath}` };
          } catch (error) {
            if (step.signal.aborted) throw error;
            outcome.mise = { started: false, log: logPath, detail: `mise bootstrap not started: ${(error as Error).message}` };
            log.warn({ vm, err: error }, 'mise bootstrap not started');
          }
          report.line(outcome.mise.detail);
          return { started: outcome.mise.started };
        },
      });
    }

    try {
      if (!pending && !explain) {
        // The manifest says the guest is current; make sure the copy is still there (someone may have removed it in the guest).
        const probe = await exec(`test -d ${shellQuote(info.guestDir)}/.git`, { signal });
        if (probe.exitCode !== 0) {
          previous = undefined;
          diff = diffManifests(undefined, await buildManifest(info.repoDir, await listWorkspaceFiles(info.repoDir)));
          pending = `${info.guestDir} is missing in the guest: copying everything again`;
        }
      }
      const run = await runGraph(ctx, {
        graphId: workspaceGraphId(vm, info.repoName),
        lockKey: `workspace:${vm}`,
        steps,
        signal,
        emit,
        explain: explain ?? false,
      });
      if (run.explained) return { plan: run.plan };
    } finally {
      if (session) await session.then((s) => s.close(), () => undefined);
    }
    log.info({ vm, repo: info.repoDir, transferred: outcome.transferred, deleted: outcome.deleted.length }, 'workspace synced');
    return {
      sync: {
        ...info,
        vm,
        transferred: outcome.transferred,
        deleted: outcome.deleted,
        unchanged: pending === undefined,
        ...(branchOptions ? { branch: { name: branchOptions.branch, from: branchOptions.from } } : {}),
        ...(info.miseConfig
          ? { mise: outcome.mise ?? { started: false, log: miseLogPath(info.repoName), detail: 'unchanged workspace: the bootstrap already ran for it' } }
          : {}),
      },
    };
  });
};

/** What a sync of `repoDir` would copy; throws the workspace lib's UserErrors for non-repositories. */
export async function inspectWorkspace(repoDir: string): Promise<WorkspaceInfo> {
  const dir = resolve(repoDir);
  const files = await listWorkspaceFiles(dir);
  return { repoDir: dir, repoName: basename(dir), guestDir: workspaceGuestDir(dir), files: files.length, miseConfig: await needsMiseBootstrap(dir) };
}

/** A running VM's ssh coordinates; a VM that is not running is a UserError saying how to start it. */
export async function sshTargetOf(ctx: DaemonContext, name: string): Promise<SshTargetWire> {
  const vm = vmRepository(ctx).get(name);
  const alive = vm.pid !== undefined && vm.pidStartTime !== undefined && processAlive(vm.pid, vm.pidStartTime);
  if (!alive || !vm.ip) {
    throw new UserError('VM_NOT_RUNNING', `vm ${name} is not running (state ${vm.state}${vm.stateReason ? `: ${vm.stateReason}` : ''})`, {
      hint: vm.state === 'creating' ? `finish it with banger vm create --name ${name}` : `start it with banger vm start ${name}`,
    });
  }
  const key = await ensureUserKey(userKeyPath(ctx));
  const hostKeyFile = vmDirOf(ctx, name).hostPublicKey;
  const hostKey = await readFile(hostKeyFile, 'utf8').catch((error: unknown) => {
    throw new InternalError('VM_HOST_KEY_MISSING', `vm ${name}: cannot read its pinned host key ${hostKeyFile}: ${(error as Error).message}`, {
      hint: `recreate the VM (banger vm delete ${name})`,
      cause: error,
    });
  });
  return { vm: name, ip: vm.ip, user: 'root', keyPath: key.privateKeyPath, knownHostsPath: knownHostsPath(ctx), hostKey: hostKey.trim() };
}
