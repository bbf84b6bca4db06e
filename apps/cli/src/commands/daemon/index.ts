import { InvalidArgumentError } from 'commander';
import type { CommandGroup } from '../command-group.js';
import { daemonLogsCommand } from './logs.js';
import { daemonRestartCommand } from './restart.js';
import { daemonStartCommand } from './start.js';
import { daemonStatusCommand } from './status.js';
import { daemonStopCommand } from './stop.js';

/** `banger daemon status|start|stop|restart|logs`. */
export const daemonCommands: CommandGroup = (program, ctx) => {
  const daemon = program.command('daemon').description('manage bangerd, the background daemon that owns VMs and state');
  daemon
    .command('status')
    .description('show pid, version, socket, uptime and VM counts (starts the daemon if needed)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => daemonStatusCommand(ctx, options));
  daemon
    .command('start')
    .description('start the daemon (normally automatic on first use)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => daemonStartCommand(ctx, options));
  daemon
    .command('stop')
    .description('stop the daemon; running VMs keep running')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => daemonStopCommand(ctx, options));
  daemon
    .command('restart')
    .description('stop and start the daemon; running VMs keep running')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => daemonRestartCommand(ctx, options));
  daemon
    .command('logs')
    .description("print the daemon's log")
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <count>', 'show only the last <count> lines', parseCount)
    .option('--raw', 'print the stored JSON lines as they are')
    .action((options: { follow?: boolean; lines?: number; raw?: boolean }) => daemonLogsCommand(ctx, options));
};

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
}
