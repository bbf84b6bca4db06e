import type { CommandGroup } from '../command-group.js';
import { sshConfigInstall, sshConfigShow, sshConfigUninstall } from './ssh-config.js';

/**
 * `banger ssh-config install|uninstall|show`: the `Host *.vm` include file
 * (~/.config/banger/ssh/config) and, only with the user's consent, the one
 * `Include` line in ~/.ssh/config that makes `ssh <vm>.vm` use it.
 */
export const sshConfigCommands: CommandGroup = (program, ctx) => {
  const group = program.command('ssh-config').description('let plain `ssh <vm>.vm` (and VS Code Remote-SSH) use banger\'s key and pinned host keys');
  group
    .command('install')
    .description('write the Host *.vm include file and, after asking, include it from ~/.ssh/config')
    .option('-y, --yes', 'add the Include line without asking')
    .action((options: { yes?: boolean }) => sshConfigInstall(ctx, options));
  group
    .command('uninstall')
    .description('remove the Include line from ~/.ssh/config and the include file')
    .action(() => sshConfigUninstall(ctx));
  group
    .command('show')
    .description('print the include file and whether ~/.ssh/config includes it')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => sshConfigShow(ctx, options));
};
