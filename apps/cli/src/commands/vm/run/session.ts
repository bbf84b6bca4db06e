import { promises as fsp } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import type { SshTargetWire } from '@banger/api';
import { HostCommandError, InternalError } from '@banger/errors';
import { exitStatusOf, openSshArgs, shellQuote, sshExec, waitForSsh } from '@banger/ssh';
import type { CliContext } from '../../../context.js';

/**
 * The guest command line for `vm run`: the argv quoted word by word, run in
 * `dir` when given, after `prefix` (in a workspace with a mise config, the
 * daemon's: wait for the tooling bootstrap, mise's shims first on PATH).
 */
export function guestCommandLine(command: readonly string[], dir?: string, prefix?: string): string {
  const argv = command.map(shellQuote).join(' ');
  const tooling = prefix ?? '';
  return dir ? `cd -- ${shellQuote(dir)} && ${tooling}exec ${argv}` : `${tooling}${argv}`;
}

/** A login shell in `dir` (the workspace) for the interactive session. */
export function guestShellLine(dir: string): string {
  return `cd -- ${shellQuote(dir)} && exec "\${SHELL:-/bin/sh}" -l`;
}

/**
 * Runs the system OpenSSH client on this terminal (a real pty with `-t`:
 * window size, resizes and Ctrl-C reach the guest) and resolves with its
 * exit status: the remote shell's or command's status, 255 for ssh's own
 * failures, 128+n when ssh itself dies of signal n.
 */
export async function runSystemSsh(target: SshTargetWire, options: { tty: boolean; remote?: string }): Promise<number> {
  const args = openSshArgs({
    host: target.ip,
    keyPath: target.keyPath,
    knownHostsPath: target.knownHostsPath,
    vmName: target.vm,
    user: target.user,
    tty: options.tty,
    ...(options.remote !== undefined ? { command: options.remote } : {}),
    extraOptions: ['BatchMode=yes', 'ConnectTimeout=15', 'ServerAliveInterval=15'],
  });
  // Loaded here, not at the top: `vm list` shares this module's group and never spawns (issue #19).
  const { spawn } = process.getBuiltinModule('node:child_process');
  return new Promise<number>((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    child.once('error', (error) =>
      reject(new HostCommandError('ssh', `cannot run ssh: ${error.message}`, { hint: 'install the OpenSSH client: sudo apt-get install openssh-client', cause: error })),
    );
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
  });
}

/** Where the output of a non-interactive command goes. */
export interface CommandSinks {
  stdout: Writable;
  stderr: Writable;
}

/** How long the fallback to ssh waits for a guest's sshd the daemon did not wait for. */
const FALLBACK_SSH_WAIT_MS = 120_000;

/**
 * `vm run -- cmd` asks the daemon not to wait for sshd when the guest agent
 * is up (the command goes through it): when the command has to go over ssh
 * after all (the agent did not take it), sshd is waited for here first.
 */
export async function waitForGuestSsh(ctx: CliContext, target: SshTargetWire): Promise<void> {
  const privateKey = await readKey(target);
  await waitForSsh({ host: target.ip, user: target.user, privateKey, hostKey: target.hostKey, timeoutMs: FALLBACK_SSH_WAIT_MS, vmName: target.vm, signal: ctx.signal });
}

function readKey(target: SshTargetWire): Promise<string> {
  // fs.promises, not node:fs/promises: that module loads at first use, not at every CLI start (issue #19).
  return fsp.readFile(target.keyPath, 'utf8').catch((error: unknown) => {
    throw new InternalError('VM_RUN_KEY_UNREADABLE', `vm run: cannot read banger's ssh key ${target.keyPath}: ${(error as Error).message}`, { cause: error });
  });
}

/**
 * Runs a command in the guest without a pty over banger's own ssh client
 * (ssh2, the pinned host key): stdout and stderr arrive separately and
 * byte-exact, this process's stdin is forwarded when it is not a terminal,
 * and the result says whether the command died of a signal — which the
 * system ssh client cannot report. Resolves with the shell status
 * (0–255, or 128+n for signal n). Ctrl-C (ctx.signal) hangs up on the
 * command and rejects with CancelledError.
 */
export async function runGuestCommand(ctx: CliContext, target: SshTargetWire, commandLine: string, sinks: CommandSinks, stdin?: Readable): Promise<{ status: number; signal?: string }> {
  const privateKey = await readKey(target);
  const result = await sshExec({
    host: target.ip,
    user: target.user,
    privateKey,
    hostKey: target.hostKey,
    command: commandLine,
    stdout: sinks.stdout,
    stderr: sinks.stderr,
    ...(stdin ? { stdin } : {}),
    signal: ctx.signal,
    // sshd was just proven to answer (vm.wait-ssh, or waitForGuestSsh); a slow handshake now means a loaded host (six TCG
    // guests on two cores took over 20 s), not a dead guest, so it gets a minute before giving up.
    readyTimeoutMs: 60_000,
  });
  return { status: exitStatusOf(result), ...(result.signal ? { signal: result.signal } : {}) };
}

/** A sink that turns output into NDJSON `{"type":"output","stream":…,"text":…}` lines (for `--json`). */
export function jsonOutputSink(ctx: CliContext, stream: 'stdout' | 'stderr'): Writable {
  const decoder = new TextDecoder('utf-8');
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = decoder.decode(chunk, { stream: true });
      if (text) ctx.out(JSON.stringify({ type: 'output', stream, text }));
      done();
    },
  });
}
