import { formatSpecLine } from '@banger/config';
import { BangerError, ExitCode } from '@banger/errors';
import { processAlive } from '@banger/hypervisor';
import { StepFailedError, type PlanSummary } from '@banger/taskgraph';
import { inspectWorkspace, workspaceSteps, type WorkspaceInfo, type WorkspaceOutcome } from '@banger/workspace';
import type { VmRunHow } from './graph-runner.js';
import { GuestLink } from './guest-link.js';
import { prepareCreate, type CreateVmParams } from './prepare-create.js';
import { vmDirOf, vmRepository, type VmEnv } from './vm-env.js';
import { nameFreed } from './removal-turn.js';
import { vmCreateGraph, vmGraphId } from './vm-graph.js';
import { vmInfo, type VmInfo } from './vm-info.js';
import { afterFailedCreate, removeVm, runVmGraph, type VmCallIo } from './vm-lifecycle.js';
import type { VmRecord } from './vm-record.js';
import type { AgentStatus } from './agent/agent-links.js';
import { vmSshTarget, type VmSshTarget } from './vm-ssh-target.js';

/** What `vm run` asks the daemon for, in one call. */
export interface RunVmParams extends CreateVmParams {
  /** Workspace mode: the host repository to sync into /root/<repo>, and the branch to put it on. */
  workspace?: { repoDir: string; branch?: string; from?: string };
  /** How long the boot waits for the agent or sshd (`--ssh-timeout`); the steps' default otherwise. */
  sshTimeoutMs?: number;
  /** False for `vm run -- cmd`: the command goes through the agent, so sshd is waited for only when the agent is down. */
  sshNeeded?: boolean;
  /** `--rm`: a run that fails or is cancelled deletes its VM (except after an ssh timeout: kept for `vm logs`). */
  rm?: boolean;
  /** Plan only: every step with run/skip and the reason; nothing changes. */
  explain?: boolean;
  stateDir?: string;
}

/** What a run leaves: the VM, how it was obtained, the workspace copy, and how to reach it. */
export interface RunVmResult {
  vm?: VmInfo;
  how?: VmRunHow;
  sync?: WorkspaceInfo & WorkspaceOutcome & { vm: string };
  target?: VmSshTarget;
  plan?: PlanSummary;
}

const SIZING_FLAGS = { image: '--image', kernel: '--kernel', vcpu: '--vcpu', memoryMib: '--memory', diskBytes: '--disk' } as const;

/**
 * `vm run`: one call, one graph. The daemon decides — a running `--name` is
 * reused, a stopped one started, an unfinished one resumed, otherwise a VM is
 * created — and runs the VM's graph (`vm:<name>`) with the workspace steps
 * appended after `vm.wait-agent` and `vm.wait-ssh`, so `--explain` shows every step and a repeated
 * run skips everything that still holds, the sync included. The repository is
 * checked before any VM is created. The result carries the ssh target the
 * CLI then attaches the user's terminal or command to.
 */
export async function runVm(env: VmEnv, params: RunVmParams, io: VmCallIo, options: { warnings?: readonly string[] } = {}): Promise<RunVmResult> {
  // The host's problems that affect every guest (no upstream DNS): said once per run, before anything else.
  for (const line of options.warnings ?? []) io.emit({ type: 'vm-notice', time: Date.now(), graphId: 'vm.run', line });
  const info = params.workspace ? await inspectWorkspace(params.workspace.repoDir) : undefined;
  const repo = vmRepository(env);
  if (params.name !== undefined) await nameFreed(env, params.name);
  const existing = params.name !== undefined ? repo.find(params.name) : undefined;
  const reusable = existing && (existing.state === 'running' || existing.state === 'stopped' || existing.state === 'suspended') ? existing : undefined;
  const prepared = reusable ? { record: reusable, isNew: false, sizing: undefined } : await prepareCreate(env, params, { signal: io.signal, ...(params.stateDir ? { stateDir: params.stateDir } : {}) });
  const record = prepared.record;
  const how: VmRunHow = !reusable ? 'created' : isAlive(reusable) ? 'reused' : 'started';
  const graphId = vmGraphId(record.name);
  const link = new GuestLink(env, record, io.signal, (line) => io.emit({ type: 'vm-notice', time: Date.now(), graphId, line }));
  const workspace = info
    ? workspaceSteps({
        info,
        manifestPath: vmDirOf(env, record.name).workspaceManifest(info.repoName),
        exec: link.exec,
        via: () => link.via(),
        // After the agent wait: the sync goes through the agent when it said hello; else over ssh,
        // which vm.wait-ssh has then waited for (it is a no-op only when the agent is up).
        needs: ['vm.wait-agent', 'vm.wait-ssh'],
        log: env.log,
        ...(params.workspace?.branch !== undefined ? { branch: params.workspace.branch } : {}),
        ...(params.workspace?.from !== undefined ? { from: params.workspace.from } : {}),
      })
    : undefined;
  const steps = [
    ...vmCreateGraph(env, record, {
      ...(params.sshTimeoutMs !== undefined ? { timeoutMs: params.sshTimeoutMs, timeoutSource: '--ssh-timeout' } : {}),
      ssh: params.sshNeeded === false ? 'if-no-agent' : 'always',
    }),
    ...(workspace?.steps ?? []),
  ];

  try {
    if (params.explain) {
      const outcome = await io.runGraph({ graphId, steps, signal: io.signal, emit: io.emit, explain: true });
      return outcome.explained ? { plan: outcome.plan } : {};
    }
    io.emit({ type: 'vm-selected', time: Date.now(), graphId, vm: record.name, how });
    announce(env, io, graphId, record, how, prepared, params);
    if (prepared.isNew) repo.insert(record);
    try {
      await runVmGraph(io, record.name, steps, env.log);
    } catch (error) {
      throw await afterFailedRun(env, record, { isNew: prepared.isNew, created: how === 'created', rm: params.rm === true }, error);
    }
    const done = repo.update(record.id, { state: 'running', stateReason: null }) ?? record;
    env.log.info({ vm: record.name, how, workspace: info?.repoDir }, 'vm run: ready');
    return {
      // With the agent's state: `vm run -- cmd` runs the command through it when it is up.
      vm: vmInfo(done, await agentStatus(env, done, io.signal)),
      how,
      target: await vmSshTarget(env, record.name),
      ...(info && workspace ? { sync: { ...info, vm: record.name, ...workspace.outcome() } } : {}),
    };
  } finally {
    await link.close();
  }
}

/**
 * The agent's state for the run's result. A VM booted by this daemon has it
 * from `vm.wait-agent`; otherwise (a VM reused after a daemon restart, an
 * agent seen down earlier that may be back) it is tried once, briefly, so a
 * VM with a broken agent costs a `vm run` at most AGENT_PROBE_MS before ssh.
 */
async function agentStatus(env: VmEnv, vm: VmRecord, signal: AbortSignal): Promise<AgentStatus | undefined> {
  return env.agent?.links.probe(vm, env.paths.vmsDir, signal);
}

function isAlive(vm: VmRecord): boolean {
  return vm.pid !== undefined && vm.pidStartTime !== undefined && processAlive(vm.pid, vm.pidStartTime);
}

/** The lines printed before the progress: the spec of a new VM, or what is reused and which flags are ignored. */
function announce(env: VmEnv, io: VmCallIo, graphId: string, record: VmRecord, how: VmRunHow, prepared: { isNew: boolean; sizing: Parameters<typeof formatSpecLine>[0] | undefined }, params: RunVmParams): void {
  const notice = (line: string): void => io.emit({ type: 'vm-notice', time: Date.now(), graphId, line });
  if (how === 'created') {
    if (prepared.sizing) notice(formatSpecLine(prepared.sizing));
  } else {
    const ignored = (Object.keys(SIZING_FLAGS) as (keyof typeof SIZING_FLAGS)[]).filter((key) => params[key] !== undefined);
    if (ignored.length > 0) notice(`note: vm ${record.name} already exists; ignoring ${ignored.map((key) => SIZING_FLAGS[key]).join(', ')}`);
    if (how === 'reused') notice(`vm ${record.name} is running (${record.ip ?? 'no address'}, ${record.vcpu} vCPU, ${record.memoryMib} MiB): reusing it`);
  }
  if (record.spec.hypervisor.warning) notice(`warning: ${record.spec.hypervisor.warning}`);
  env.log.info({ vm: record.name, id: record.id, how }, 'vm run');
}

/**
 * A failed or cancelled run: the creation's own rules first (a new VM that
 * failed on bad input is rolled back), then `--rm` — the VM goes, except when
 * sshd never answered: it is kept, and the error says so, for `vm logs`.
 * Returns the error to throw.
 */
async function afterFailedRun(env: VmEnv, record: VmRecord, run: { isNew: boolean; created: boolean; rm: boolean }, error: unknown): Promise<unknown> {
  if (run.created) await afterFailedCreate(env, record, run.isNew, error);
  const failure = error instanceof StepFailedError && error.cause instanceof BangerError ? error.cause : error;
  if (failure instanceof BangerError && failure.code === 'SSH_WAIT_TIMEOUT') {
    return new BangerError(failure.code, failure.message, {
      hint: `the VM ${record.name} is kept${run.rm ? ' despite --rm' : ''} for inspection: banger vm logs ${record.name}; remove it with banger vm delete ${record.name}`,
      exitCode: ExitCode.internal,
      cause: error,
    });
  }
  const left = vmRepository(env).findById(record.id);
  if (run.rm && left) {
    await removeVm(env, left, { force: true }).catch((cleanup: unknown) => env.log.warn({ vm: record.name, err: cleanup }, '--rm: could not delete the vm after a failed run'));
  }
  return error;
}
