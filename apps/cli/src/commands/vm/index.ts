import { InvalidArgumentError } from 'commander';
import type { CommandGroup } from '../command-group.js';
import { nameArgument } from '../../completion/resource-names.js';
import { createCommand, type CreateOptions } from './create.js';
import { addNewVmOptions } from './new-vm-options.js';
import { deleteCommand, restartCommand, resumeCommand, startCommand, stopCommand, suspendCommand } from './lifecycle.js';
import { listCommand, showCommand } from './list.js';
import { logsCommand } from './logs.js';
import { addVmRunCommand } from './run.js';
import { sshCommand } from './ssh.js';
import { execCommand, parseEnvOption } from './exec.js';
import { addSessionCommands } from './session.js';

/** `banger vm create|start|stop|restart|delete|list|show|logs|ssh|exec`. */
export const vmCommands: CommandGroup = (program, ctx) => {
  const vm = program.command('vm').description('create, run and manage sandbox VMs');
  addVmRunCommand(vm, ctx);
  addNewVmOptions(
    vm.command('create').description('create a VM and leave it running (prints the spec: line, then live progress); again with the same name resumes'),
    { name: 'VM name: a DNS label (lowercase letters, digits, -); generated when omitted' },
  )
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((options: CreateOptions) => createCommand(ctx, options));
  vm.command('start')
    .description('start a stopped VM (a suspended one is resumed) and wait for ssh')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('--json', 'print progress events as NDJSON')
    .option('--explain', 'print what would run and why; change nothing')
    .action((name: string, options: { json?: boolean; explain?: boolean }) => startCommand(ctx, name, options));
  vm.command('stop')
    .description('shut a VM down (power button, killed after 30 s); --force kills at once')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('-f, --force', 'kill the hypervisor at once')
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean; force?: boolean }) => stopCommand(ctx, name, options));
  vm.command('suspend')
    .description('freeze a running VM into its directory (memory and devices) and end its hypervisor; vm resume continues it')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => suspendCommand(ctx, name, options));
  vm.command('resume')
    .description('continue a suspended VM where it was (processes, sessions, open files); its clock is set right')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('--json', 'print progress events as NDJSON')
    .action((name: string, options: { json?: boolean }) => resumeCommand(ctx, name, options));
  vm.command('restart')
    .description('stop and start a VM')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('-f, --force', 'kill instead of a graceful shutdown')
    .option('--json', 'print progress events as NDJSON')
    .action((name: string, options: { json?: boolean; force?: boolean }) => restartCommand(ctx, name, options));
  vm.command('delete')
    .alias('rm')
    .description('delete VMs: stop them, remove disks, tap, lease, pinned host key and record')
    .addArgument(nameArgument('vm', '<name...>', 'the VMs'))
    .option('-f, --force', 'kill running VMs instead of shutting them down')
    .option('--json', 'print JSON')
    .action((names: string[], options: { json?: boolean; force?: boolean }) => deleteCommand(ctx, names, options));
  vm.command('list')
    .alias('ls')
    .description('list VMs: name, state, IP, image, vcpu/mem, age')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => listCommand(ctx, options));
  vm.command('show')
    .description('show one VM, including which hypervisor runs it and why')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('--json', 'print JSON')
    .action((name: string, options: { json?: boolean }) => showCommand(ctx, name, options));
  vm.command('logs')
    .description("print a VM's guest console (--daemon: the daemon's log lines about it)")
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <count>', 'only the last <count> lines', parseCount)
    .option('--daemon', "the daemon's log lines about this VM instead of the console")
    .option('--raw', 'with --daemon: the JSON lines as stored')
    .action((name: string, options: { follow?: boolean; lines?: number; daemon?: boolean; raw?: boolean }) => logsCommand(ctx, name, options));
  vm.command('ssh')
    .description('ssh into a VM (banger key, pinned host key); with -- cmd, run it and exit with its status')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .argument('[command...]', 'command to run in the guest (after --)')
    .passThroughOptions()
    .action((name: string, command: string[]) =>
      // With passThroughOptions commander keeps the `--` separator among the words.
      sshCommand(ctx, name, command[0] === '--' ? command.slice(1) : command),
    );
  vm.command('exec')
    .description('run a command in a VM through its guest agent (no ssh, no shell); stdin, stdout, stderr and the exit status pass through; --tty gives it a terminal')
    .addArgument(nameArgument('vm', '<name>', 'the VM'))
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-t, --tty', 'run it on a pseudo-terminal in the guest (local terminal in raw mode, resizes passed on)')
    .option('--env <NAME=VALUE>', 'set an environment variable (repeatable)', parseEnvOption)
    .option('--cwd <dir>', 'working directory (default: the user\'s home)')
    .option('--user <user>', 'run as this guest user, by name or uid (default: root)')
    .action((name: string, command: string[], options: { env?: Record<string, string>; cwd?: string; user?: string; tty?: boolean }) => {
      const argv = command[0] === '--' ? command.slice(1) : command;
      if (argv.length === 0) throw new InvalidArgumentError('no command given (banger vm exec NAME -- cmd …)');
      return execCommand(ctx, name, argv, options);
    });
  addSessionCommands(vm, ctx);
};

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}
