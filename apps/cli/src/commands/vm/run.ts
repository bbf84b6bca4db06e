import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { type Command, InvalidArgumentError } from 'commander';
import { BangerError, ExitError, InternalError, UserError } from '@banger/errors';
import type { ParamsOf, VmInfoWire } from '@banger/api';
import type { CliContext } from '../../context.js';
import { addNewVmOptions, newVmParams, type NewVmOptions } from './new-vm-options.js';
import { guestCommandLine, guestShellLine, jsonOutputSink, runGuestCommand, runSystemSsh, waitForGuestSsh } from './run/session.js';
import { streamedCall } from '../streamed-call.js';
import { parseSessionName } from './session-format.js';
import { execThroughAgent, NotStartedError, type AgentExecStdio } from './exec.js';
import { RunClock } from './run/timings.js';

/** Flags of `banger vm run`. */
export interface RunOptions extends NewVmOptions {
  branch?: string;
  from?: string;
  rm?: boolean;
  json?: boolean;
  sshTimeout?: number;
  explain?: boolean;
  session?: string;
  timings?: boolean;
}

/** What the shell and tests get to decide: is stdin a terminal, where does this process's stdin come from. */
export interface RunTerminal {
  stdinIsTty: boolean;
  stdin: Readable;
}

/**
 * Adds `banger vm run [path] [-- command…]` to the `vm` group (J's
 * commands/vm/index.ts calls this once).
 */
export function addVmRunCommand(vm: Command, ctx: CliContext): void {
  addNewVmOptions(
    vm
      .command('run')
      .description('create (or reuse) a VM and drop into ssh; with a path, sync that repository into /root/<repo>; with -- cmd, run it and exit with its status')
      .argument('[path]', 'a git repository to copy into the guest (workspace mode)')
      .argument('[command...]', 'command to run in the guest, after --'),
    { name: 'VM name: reuse it when it exists (a stopped one is started), else create it', suffix: ' of a new VM' },
  )
    .option('--branch <branch>', 'workspace mode: check out a new branch in the guest copy')
    .option('--from <ref>', 'workspace mode, with --branch: where the branch starts (default HEAD)')
    .option('--rm', 'delete the VM when the session or command ends (kept when ssh never came up)')
    .option('--json', 'command mode: progress, output and the exit status as NDJSON on stdout')
    .option('--ssh-timeout <seconds>', 'how long to wait for the guest sshd at boot (default: the daemon\'s, 300 s under TCG)', parseSeconds)
    .option('--explain', 'print every step of the run (VM and workspace) with run/skip and the reason; change nothing')
    .option('--timings', 'at the end, print where the time went: the phases of the run and every step of its graph (stderr; a "timings" line with --json)')
    .option('--session <name>', 'start the command as a long-lived session named <name> (banger vm session …) and return, instead of running it in the foreground', parseSessionName)
    .action((path: string | undefined, command: string[], options: RunOptions, self: Command) => {
      const split = splitOperands(rootOf(self).rawArgs, path, command);
      const stdin = process.stdin;
      return vmRun(ctx, split.path, split.command, options, { stdinIsTty: Boolean(stdin.isTTY), stdin });
    });
}

/**
 * `banger vm run`: the four shapes of the seed README.
 *
 * 1. the VM: `--name` of a running VM is reused, a stopped one started,
 *    otherwise one is created (the `spec:` line, then the graph progress);
 * 2. workspace mode (a path): the daemon syncs the repository into
 *    /root/<repo> (only changes on repeated runs), checks out `--branch`, and
 *    starts the mise bootstrap in the background;
 * 3. no command: an interactive ssh session (system ssh, real pty) in the
 *    workspace or /root; leaving it leaves the VM running;
 *    a command: run in the workspace or /root, exiting with its status
 *    (0–255 as is, 128+n for death by signal n). Without a terminal on stdin
 *    there is no pty and stdout/stderr stay separate and byte-exact. The
 *    command goes through the guest agent when it said hello (no second ssh
 *    handshake), else — or when the agent does not take it — over ssh, with
 *    a one-line warning;
 * 4. `--rm`: the VM is deleted when the session or command ends, also on
 *    Ctrl-C and on failures — except when the boot-time ssh wait timed out,
 *    when it is kept for `banger vm logs`.
 */
export async function vmRun(ctx: CliContext, path: string | undefined, command: string[], options: RunOptions, terminal: RunTerminal): Promise<void> {
  const json = options.json === true;
  const hasCommand = command.length > 0;
  if (!path && (options.branch !== undefined || options.from !== undefined)) {
    const flag = options.branch !== undefined ? `--branch ${options.branch}` : `--from ${options.from}`;
    throw new UserError('VM_RUN_BRANCH_WITHOUT_WORKSPACE', `vm run ${flag}: only applies to workspace mode`, {
      hint: 'pass the repository path: banger vm run ./repo --branch <name> [--from <ref>]',
    });
  }
  if (options.from !== undefined && options.branch === undefined) {
    throw new UserError('VM_RUN_FROM_WITHOUT_BRANCH', `vm run --from ${options.from}: needs --branch`, { hint: 'name the branch to create: --branch <name> --from <ref>' });
  }
  if (options.session !== undefined && (!hasCommand || options.rm || json)) {
    const why = !hasCommand ? 'needs a command after --' : options.rm ? 'cannot be combined with --rm (the VM would be deleted under it)' : 'has no --json output';
    throw new UserError('VM_RUN_SESSION_CONFLICT', `vm run --session ${options.session}: ${why}`, { hint: 'banger vm run [path] --session <name> -- <command>' });
  }
  const params = {
    ...newVmParams(options),
    ...(path ? { workspace: { repoDir: resolve(path), ...(options.branch !== undefined ? { branch: options.branch } : {}), ...(options.from !== undefined ? { from: options.from } : {}) } } : {}),
    ...(options.sshTimeout !== undefined ? { sshTimeoutMs: options.sshTimeout * 1000 } : {}),
    // A command goes through the guest agent: the boot waits for sshd only when the agent is down.
    ...(hasCommand ? { sshNeeded: false } : {}),
    ...(options.rm ? { rm: true } : {}),
  };
  if (options.explain) {
    await streamedCall(ctx, 'vm.run', params, { json, explain: true });
    return;
  }
  if (json && (!hasCommand || terminal.stdinIsTty)) {
    throw new UserError('VM_RUN_JSON_INTERACTIVE', `vm run --json: only for a command run without a terminal (${hasCommand ? 'stdin is a terminal' : 'no command after --'})`, {
      hint: 'banger vm run [path] --json -- <command> </dev/null',
    });
  }

  const clock = options.timings ? new RunClock() : undefined;
  try {
    await vmRunCalls(ctx, params, command, options, terminal, clock);
  } finally {
    if (clock) clock.print(ctx, json);
  }
}

async function vmRunCalls(
  ctx: CliContext,
  params: Omit<ParamsOf<'vm.run'>, 'explain'>,
  command: string[],
  options: RunOptions,
  terminal: RunTerminal,
  clock: RunClock | undefined,
): Promise<void> {
  const json = options.json === true;
  const hasCommand = command.length > 0;
  // One call: the daemon picks, creates or starts the VM and syncs the workspace; on failure or Ctrl-C it also applies --rm.
  const result = await streamedCall(ctx, 'vm.run', params, { json }, { resultWithMethod: true, ...(clock ? { tap: (event) => clock.event(event) } : {}) });
  clock?.mark('vm.run returned');
  const { target, sync } = result;
  if (!target || !result.vm) throw new InternalError('VM_RUN_NO_TARGET', 'vm run: the daemon returned no VM to connect to');
  const vmName = result.vm.name;
  try {
    if (sync && !json) {
      ctx.err(
        sync.unchanged
          ? `workspace ${sync.guestDir}: up to date`
          : `workspace ${sync.guestDir}: sent ${sync.transferred.files} file${sync.transferred.files === 1 ? '' : 's'} (${sync.transferred.bytes} bytes), deleted ${sync.deleted.length}${sync.via === 'agent' ? ' (through the guest agent)' : sync.via === 'ssh' ? ' (over ssh)' : ''}`,
      );
      if (sync.branch) ctx.err(`workspace ${sync.guestDir}: on branch ${sync.branch.name} (from ${sync.branch.from})`);
      if (sync.mise) ctx.err(sync.mise.detail);
    }
    const dir = sync?.guestDir;
    if (options.session !== undefined) {
      // In the workspace (and with its tooling) through a shell line, as the foreground command would run; else argv as is.
      const argv = dir ? ['sh', '-c', guestCommandLine(command, dir, sync?.mise?.commandPrefix)] : command;
      const { client } = await ctx.daemon();
      const started = await client.call('vm.session.start', { vm: vmName, name: options.session, argv, ...(dir ? { cwd: dir } : {}) }, { signal: ctx.signal });
      ctx.out(started.name);
      ctx.err(`session ${started.name} runs in vm ${vmName} (pid ${started.pid}): banger vm session attach ${vmName} ${started.name}`);
      return;
    }
    let status: number;
    if (!hasCommand) {
      if (!json) ctx.err(options.rm ? `connecting to ${vmName}; the VM is deleted when you leave` : `connecting to ${vmName}; leaving keeps it running (banger vm delete ${vmName} removes it)`);
      status = await runSystemSsh(target, { tty: terminal.stdinIsTty, ...(dir ? { remote: guestShellLine(dir) } : {}) });
    } else {
      const line = guestCommandLine(command, dir, sync?.mise?.commandPrefix);
      const sinks = json ? { stdout: jsonOutputSink(ctx, 'stdout'), stderr: jsonOutputSink(ctx, 'stderr') } : { stdout: ctx.io.stdout, stderr: ctx.io.stderr };
      // A terminal: the command gets a real pty (an editor, top, a REPL work); output is merged as on any terminal.
      let ran = await runOverAgent(ctx, result.vm, target.user, line, { stdin: terminal.stdin as AgentExecStdio['stdin'], ...sinks }, terminal.stdinIsTty);
      if (!ran) {
        // The daemon did not wait for sshd if the agent was up when the boot ended (sshNeeded: false).
        await waitForGuestSsh(ctx, target);
        ran = terminal.stdinIsTty ? { status: await runSystemSsh(target, { tty: true, remote: line }) } : await runGuestCommand(ctx, target, line, sinks, terminal.stdin);
      }
      status = ran.status;
      if (json) ctx.out(JSON.stringify({ type: 'exit', vm: vmName, status, ...(ran.signal ? { signal: ran.signal } : {}) }));
    }
    clock?.mark('command exited');
    if (status !== 0) throw new ExitError(status);
  } finally {
    if (options.rm) {
      await removeVm(ctx, vmName, json);
      clock?.mark('--rm: VM handed over');
    }
  }
}

/**
 * `vm run -- cmd` through the guest agent: `sh -c <line>` as the ssh user,
 * on a guest pty when stdin is a terminal. Resolves undefined — after one
 * warning line — when the agent is not up or did not take the command
 * before it started (nothing ran, no input was read): the caller then uses
 * ssh. A command that started is never run again.
 */
async function runOverAgent(ctx: CliContext, vm: VmInfoWire, user: string, line: string, stdio: AgentExecStdio, tty: boolean): Promise<{ status: number; signal?: string } | undefined> {
  if (vm.agent?.state !== 'up') {
    const why = vm.agent?.state === 'down' ? `is down (${vm.agent.reason})` : 'has not said hello';
    ctx.err(`warning: the guest agent of ${vm.name} ${why}; running the command over ssh`);
    return undefined;
  }
  try {
    const end = await execThroughAgent(ctx, vm.name, ['/bin/sh', '-c', line], { user, ...(tty ? { tty: true } : {}) }, stdio);
    return { status: end.exitStatus, ...(end.signal ? { signal: end.signal } : {}) };
  } catch (error) {
    if (!(error instanceof NotStartedError)) throw error;
    const cause = error.cause;
    // The agent could not take it (gone, restarting, an old runtime disk without the pty helper): ssh still can.
    if (cause instanceof BangerError && cause.code.startsWith('AGENT_') && cause.code !== 'AGENT_EXEC_FAILED' && cause.code !== 'AGENT_UNKNOWN_USER') {
      ctx.err(`warning: the guest agent of ${vm.name} did not take the command (${cause.message}); running it over ssh`);
      return undefined;
    }
    throw cause;
  }
}

/**
 * `--rm`: hands the VM to the daemon for removal, also after Ctrl-C, and
 * returns as soon as the daemon has taken it (marked it deleting: gone from
 * `vm list`, its name free once the removal ends) — stopping it and removing
 * its tap, disks and lease go on in the daemon, not on the user's clock
 * (issue 19). A daemon killed meanwhile finishes the removal at its next start.
 */
async function removeVm(ctx: CliContext, name: string, json: boolean): Promise<void> {
  try {
    const { client } = await ctx.daemon();
    // Not ctx.signal: after Ctrl-C it is aborted, and the delete is exactly what must still happen.
    await client.call('vm.delete', { name, force: true, background: true });
    if (json) ctx.out(JSON.stringify({ type: 'vm-deleted', vm: name, background: true }));
    else ctx.err(`deleting vm ${name} (--rm)`);
  } catch (error) {
    ctx.err(`banger: --rm: could not delete vm ${name}: ${(error as Error).message} (hint: banger vm delete ${name})`);
  }
}

/**
 * Commander hands `vm run -- uname -r` over as path "uname", command ["-r"]:
 * everything after `--` is an operand. The words after the first `--` of the
 * raw argv are the command; an operand before them is the path.
 */
export function splitOperands(rawArgs: readonly string[], path: string | undefined, command: readonly string[]): { path: string | undefined; command: string[] } {
  const operands = [...(path !== undefined ? [path] : []), ...command];
  const runIndex = rawArgs.indexOf('run');
  const dash = rawArgs.indexOf('--', runIndex < 0 ? 0 : runIndex);
  if (dash < 0) {
    if (operands.length > 1) {
      throw new UserError('VM_RUN_EXTRA_ARGS', `vm run: unexpected argument ${operands[1]}`, { hint: 'put the command after --: banger vm run [path] -- <command>' });
    }
    return { path: operands[0], command: [] };
  }
  const after = rawArgs.length - dash - 1;
  const before = operands.slice(0, operands.length - after);
  if (before.length > 1) {
    throw new UserError('VM_RUN_EXTRA_ARGS', `vm run: unexpected argument ${before[1]} before --`, { hint: 'banger vm run [path] -- <command>' });
  }
  return { path: before[0], command: operands.slice(operands.length - after) };
}

function rootOf(command: Command): Command & { rawArgs: string[] } {
  let current = command;
  while (current.parent) current = current.parent;
  return current as Command & { rawArgs: string[] };
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds, from 1 to 3600');
  return n;
}
