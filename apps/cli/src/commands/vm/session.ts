import { InvalidArgumentError, type Command } from 'commander';
import { CancelledError, ExitError } from '@banger/errors';
import type { CliContext } from '../../context.js';
import { nameArgument } from '../../completion/resource-names.js';
import { toJson } from '../../output/format.js';
import { localTerminal, parseEnvOption } from './exec.js';
import { attachCommand } from './session-attach.js';
import { formatSessionTable, parseSessionName, parseSignal, parseTimeout, sessionState } from './session-format.js';

/** Input bytes sent but not yet taken by the session, at most (then the CLI stops reading its stdin). */
const INPUT_WINDOW = 4 * 1024 * 1024;

interface StartOptions {
  name?: string;
  cwd?: string;
  env?: Record<string, string>;
  user?: string;
  tty?: boolean;
  json?: boolean;
}

/** `banger vm session start|list|logs|attach|send|stop|rm` (docs/advanced.md). */
export function addSessionCommands(vm: Command, ctx: CliContext): void {
  const session = vm.command('session').description('long-lived processes in a VM: they outlive the CLI, the daemon and the guest agent (not a VM stop)');
  session
    .command('start')
    .description('start a named process in a running VM and return at once (prints its name)')
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--name <name>', 'session name, unique in the VM (default: <program>-<n>)', parseSessionName)
    .option('--cwd <dir>', "working directory (default: the user's home)")
    .option('--env <NAME=VALUE>', 'set an environment variable (repeatable)', parseEnvOption)
    .option('--user <user>', 'run as this guest user, by name or uid (default: root)')
    .option('--tty', 'run it on a pseudo-terminal (for shells, editors, REPLs; attach then passes every key, Ctrl-C included)')
    .option('--json', 'print the session as JSON')
    .action(async (vmName: string, command: string[], options: StartOptions) => {
      const argv = command[0] === '--' ? command.slice(1) : command;
      if (argv.length === 0) throw new InvalidArgumentError('no command given (banger vm session start VM -- cmd …)');
      const { client } = await ctx.daemon();
      const started = await client.call(
        'vm.session.start',
        {
          vm: vmName,
          argv,
          ...(options.name ? { name: options.name } : {}),
          ...(options.cwd ? { cwd: options.cwd } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(options.user ? { user: options.user } : {}),
          // The terminal starts at this terminal's size (80×24 when it is not one); attach resizes it to the attaching one.
          ...(options.tty ? { tty: localTerminal(process.stdout, ctx.env) } : {}),
        },
        { signal: ctx.signal },
      );
      ctx.out(options.json ? toJson(started) : started.name);
    });

  session
    .command('list')
    .alias('ls')
    .description('list sessions (of one VM, or of every running VM): name, command, state, start time, pid, output size')
    .addArgument(nameArgument('vm', '[vm]', 'only this VM'))
    .option('--json', 'print JSON')
    .action(async (vmName: string | undefined, options: { json?: boolean }) => {
      const { client } = await ctx.daemon();
      const listing = await client.call('vm.session.list', vmName ? { vm: vmName } : {}, { signal: ctx.signal });
      if (options.json) return ctx.out(toJson(listing));
      if (listing.sessions.length > 0) ctx.out(formatSessionTable(listing.sessions));
      else if (listing.unavailable.length === 0) ctx.out(`no sessions (hint: banger vm session start ${vmName ?? '<vm>'} -- cmd …)`);
      for (const u of listing.unavailable) ctx.err(`banger: ${u.reason}`);
    });

  session
    .command('logs')
    .description("print a session's output (the guest keeps its last 16 MiB); -f follows until it ends or Ctrl-C")
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .addArgument(nameArgument('session', '<session>', 'the session'))
    .option('-f, --follow', 'keep printing new output until the session ends (Ctrl-C stops following, the session keeps running)')
    .option('-n, --lines <count>', 'only the last <count> lines', parseCount)
    .action(async (vmName: string, name: string, options: { follow?: boolean; lines?: number }) => {
      const { client } = await ctx.daemon();
      const out = throttledWriter(ctx, client);
      try {
        await client.call(
          'vm.session.logs',
          { vm: vmName, name, ...(options.lines !== undefined ? { tail: options.lines } : {}), ...(options.follow ? { follow: true } : {}) },
          { signal: ctx.signal, onEvent: (e) => out(Buffer.from(e.data, 'base64')) },
        );
      } catch (error) {
        if (options.follow && error instanceof CancelledError && ctx.signal.aborted) return;
        throw error;
      }
    });

  session
    .command('attach')
    .description('replay the recent output, then follow live and forward stdin; detach with Ctrl-P Ctrl-Q (or Ctrl-C): the session keeps running')
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .addArgument(nameArgument('session', '<session>', 'the session'))
    .option('-n, --lines <count>', 'lines of earlier output to replay (default 100)', parseCount)
    .action((vmName: string, name: string, options: { lines?: number }) => attachCommand(ctx, vmName, name, { replayLines: options.lines ?? 100 }));

  session
    .command('send')
    .description("write this command's stdin to the session's stdin (until EOF)")
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .addArgument(nameArgument('session', '<session>', 'the session'))
    .action(async (vmName: string, name: string) => {
      const { client } = await ctx.daemon();
      await sendStream(ctx, client, vmName, name, process.stdin);
    });

  session
    .command('stop')
    .description('send SIGTERM (or --signal) to the session, then SIGKILL if it still runs after --timeout')
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .addArgument(nameArgument('session', '<session>', 'the session'))
    .option('-s, --signal <signal>', 'the first signal (TERM, INT, HUP, 9, …; default TERM)', parseSignal)
    .option('-t, --timeout <seconds>', 'how long to wait before SIGKILL (default 10; 500ms, 2.5s)', parseTimeout)
    .option('--json', 'print the ended session as JSON')
    .action(async (vmName: string, name: string, options: { signal?: string; timeout?: number; json?: boolean }) => {
      const { client } = await ctx.daemon();
      const ended = await client.call(
        'vm.session.stop',
        { vm: vmName, name, ...(options.signal ? { signal: options.signal } : {}), ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}) },
        { signal: ctx.signal },
      );
      ctx.out(options.json ? toJson(ended) : `${vmName}/${name}: ${sessionState(ended)}`);
      if (ended.state === 'running') throw new ExitError(125);
    });

  session
    .command('rm')
    .description('remove an ended session (its kept output and exit status) from the guest')
    .addArgument(nameArgument('vm', '<vm>', 'the VM'))
    .addArgument(nameArgument('session', '<session>', 'the session'))
    .action(async (vmName: string, name: string) => {
      const { client } = await ctx.daemon();
      await client.call('vm.session.rm', { vm: vmName, name }, { signal: ctx.signal });
    });
}

type Client = Awaited<ReturnType<CliContext['daemon']>>['client'];

/** Writes to stdout; while stdout is full the daemon connection is throttled (so the agent's credit slows the reader in the guest). */
export function throttledWriter(ctx: CliContext, client: Client): (chunk: Buffer) => void {
  void ctx;
  let blocked = 0;
  return (chunk) => {
    if (process.stdout.write(chunk)) return;
    if (blocked++ === 0) client.throttle(true);
    process.stdout.once('drain', () => {
      if (--blocked === 0) client.throttle(false);
    });
  };
}

/** Streams `input` to the session's stdin in one call, keeping at most INPUT_WINDOW unacknowledged. */
export async function sendStream(ctx: CliContext, client: Client, vm: string, name: string, input: NodeJS.ReadableStream & { pause(): void; resume(): void }, signal: AbortSignal = ctx.signal): Promise<number> {
  let unacked = 0;
  let paused = false;
  const result = await client.call(
    'vm.session.send',
    { vm, name },
    {
      signal,
      onEvent: (event) => {
        unacked -= event.ack;
        if (paused && unacked < INPUT_WINDOW / 2) {
          paused = false;
          input.resume();
        }
      },
      onSendInput: (send) => {
        input.on('data', (chunk: Buffer) => {
          send(chunk);
          unacked += chunk.length;
          if (unacked >= INPUT_WINDOW && !paused) {
            paused = true;
            input.pause();
          }
        });
        input.once('end', () => send(null));
        input.once('error', () => send(null));
      },
    },
  );
  return result.bytes;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}
